package iec104

import "fmt"

// TypeID is an ASDU's type identification.
type TypeID uint8

// Type identifications this package decodes (IEC 60870-5-101 §7.2.1.1).
const (
	MSpNa1 TypeID = 1   // single point
	MDpNa1 TypeID = 3   // double point
	MStNa1 TypeID = 5   // step position
	MBoNa1 TypeID = 7   // bitstring of 32 bits
	MMeNa1 TypeID = 9   // measured value, normalised
	MMeNb1 TypeID = 11  // measured value, scaled
	MMeNc1 TypeID = 13  // measured value, short float
	MItNa1 TypeID = 15  // integrated totals
	MSpTb1 TypeID = 30  // single point with CP56Time2a
	MDpTb1 TypeID = 31  // double point with CP56Time2a
	MStTb1 TypeID = 32  // step position with CP56Time2a
	MBoTb1 TypeID = 33  // bitstring with CP56Time2a
	MMeTd1 TypeID = 34  // normalised with CP56Time2a
	MMeTe1 TypeID = 35  // scaled with CP56Time2a
	MMeTf1 TypeID = 36  // short float with CP56Time2a
	MItTb1 TypeID = 37  // integrated totals with CP56Time2a
	CScNa1 TypeID = 45  // single command
	CDcNa1 TypeID = 46  // double command
	MEiNa1 TypeID = 70  // end of initialisation
	CIcNa1 TypeID = 100 // (general) interrogation command
	CCiNa1 TypeID = 101 // counter interrogation command
	CCsNa1 TypeID = 103 // clock synchronisation command
)

var typeNames = map[TypeID]string{
	MSpNa1: "M_SP_NA_1", MDpNa1: "M_DP_NA_1", MStNa1: "M_ST_NA_1", MBoNa1: "M_BO_NA_1",
	MMeNa1: "M_ME_NA_1", MMeNb1: "M_ME_NB_1", MMeNc1: "M_ME_NC_1", MItNa1: "M_IT_NA_1",
	MSpTb1: "M_SP_TB_1", MDpTb1: "M_DP_TB_1", MStTb1: "M_ST_TB_1", MBoTb1: "M_BO_TB_1",
	MMeTd1: "M_ME_TD_1", MMeTe1: "M_ME_TE_1", MMeTf1: "M_ME_TF_1", MItTb1: "M_IT_TB_1",
	CScNa1: "C_SC_NA_1", CDcNa1: "C_DC_NA_1",
	MEiNa1: "M_EI_NA_1", CIcNa1: "C_IC_NA_1", CCiNa1: "C_CI_NA_1", CCsNa1: "C_CS_NA_1",
}

func (t TypeID) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// Known reports whether this package decodes t.
func (t TypeID) Known() bool { _, ok := typeNames[t]; return ok }

// elementLen is the size of one information element (without the IOA) and
// whether it ends with a CP56Time2a.
func (t TypeID) elementLen() (n int, timed bool) {
	switch t {
	case MSpNa1, MDpNa1:
		return 1, false
	case MStNa1:
		return 2, false
	case MBoNa1:
		return 5, false
	case MMeNa1, MMeNb1:
		return 3, false
	case MMeNc1, MItNa1:
		return 5, false
	case MSpTb1, MDpTb1:
		return 1 + 7, true
	case MStTb1:
		return 2 + 7, true
	case MBoTb1:
		return 5 + 7, true
	case MMeTd1, MMeTe1:
		return 3 + 7, true
	case MMeTf1, MItTb1:
		return 5 + 7, true
	case CScNa1, CDcNa1, MEiNa1, CIcNa1, CCiNa1:
		return 1, false
	case CCsNa1:
		return 7, true
	}
	return 0, false
}

// Cause is a cause of transmission (IEC 60870-5-101 §7.2.3).
type Cause uint8

// Causes of transmission.
const (
	CausePeriodic        Cause = 1
	CauseBackground      Cause = 2
	CauseSpontaneous     Cause = 3
	CauseInitialized     Cause = 4
	CauseRequest         Cause = 5
	CauseActivation      Cause = 6
	CauseActivationCon   Cause = 7
	CauseDeactivation    Cause = 8
	CauseDeactivationCon Cause = 9
	CauseActivationTerm  Cause = 10
	CauseInterrogated    Cause = 20 // interrogated by station interrogation
	CauseCounterReq      Cause = 37 // requested by general counter request
	CauseUnknownType     Cause = 44
	CauseUnknownCause    Cause = 45
	CauseUnknownCA       Cause = 46
	CauseUnknownIOA      Cause = 47
)

// Quality descriptor bits, as in QDS, SIQ and DIQ. OV exists only in QDS.
type Quality uint8

// Quality bits.
const (
	QualityOV Quality = 0x01 // overflow
	QualityBL Quality = 0x10 // blocked
	QualitySB Quality = 0x20 // substituted
	QualityNT Quality = 0x40 // not topical
	QualityIV Quality = 0x80 // invalid
)

// Counter flags of a binary counter reading (BCR).
const (
	CounterCY = 0x20 // carry: the counter overflowed in the period
	CounterCA = 0x40 // adjusted since the last reading
	CounterIV = 0x80 // invalid
)

// Qualifiers.
const (
	QOIStation = 20 // station (general) interrogation
	QCCGeneral = 5  // general counter request, read (no freeze)
)

// Double point states (DPI).
const (
	DPIIntermediate  = 0
	DPIOff           = 1
	DPIOn            = 2
	DPIIndeterminate = 3
)
