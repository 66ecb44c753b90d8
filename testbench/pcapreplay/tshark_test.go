package pcapreplay

import (
	"bufio"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The fixtures in testdata/*.tshark.tsv.gz are tshark's reading of the
// captures in ../testdata (command in testdata/README.md). Columns:
const (
	colFrame = iota
	colTime
	colIPSrc
	colSrcPort
	colIPDst
	colDstPort
	colTransID
	colUnit
	colLen
	colFunc
	colException
	colRequestFrame
	colReference
	colWordCnt
	colBitCnt
	colByteCnt
	colRegNum
	colRegVal
	colBitNum
	colBitVal
	colData
	numCols
)

func capturePath(name string) string {
	for _, dir := range []string{"modbus-iti", "zeek"} {
		p := filepath.Join("..", "testdata", dir, name+".pcap")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join("..", "testdata", name+".pcap")
}

// readFixture returns tshark's rows, each split into numCols fields.
func readFixture(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".tshark.tsv.gz"))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	var rows [][]string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != numCols {
			t.Fatalf("fixture %s: row %q has %d columns, want %d", name, sc.Text(), len(cols), numCols)
		}
		rows = append(rows, cols)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return rows
}

// tsharkRows renders the reconstruction the way `tshark -T fields` prints
// the fixture's columns: one row per frame holding Modbus PDUs, each column
// the comma-joined values of all PDUs in the frame.
func tsharkRows(c *Capture) [][]string {
	var rows [][]string
	var cur []string
	frame := -1
	add := func(col int, v string) {
		if cur[col] != "" {
			cur[col] += ","
		}
		cur[col] += v
	}
	u := func(v int) string { return strconv.Itoa(v) }
	for _, p := range c.PDUs {
		if p.Frame != frame {
			frame = p.Frame
			cur = make([]string, numCols)
			rows = append(rows, cur)
			src, dst := p.Client, p.Server
			if !p.Request {
				src, dst = dst, src
			}
			cur[colFrame] = u(p.Frame)
			cur[colTime] = fmt.Sprintf("%d.%09d", p.Time.Unix(), p.Time.Nanosecond())
			cur[colIPSrc], cur[colSrcPort] = src.Addr().String(), u(int(src.Port()))
			cur[colIPDst], cur[colDstPort] = dst.Addr().String(), u(int(dst.Port()))
		}
		t := p.Transaction
		fc := int(p.Function & 0x7f)
		add(colTransID, u(int(p.TransID)))
		add(colUnit, u(int(p.Unit)))
		add(colLen, u(int(p.Length)))
		add(colFunc, u(fc))
		if p.Request {
			add(colReference, u(int(be16(p.Data))))
			switch fc {
			case FuncReadCoils, FuncReadDiscreteInputs:
				add(colBitCnt, u(int(be16(p.Data[2:]))))
			case FuncReadHoldingRegisters, FuncReadInputRegisters:
				add(colWordCnt, u(int(be16(p.Data[2:]))))
			case FuncWriteSingleCoil, FuncWriteSingleRegister:
				add(colData, hex.EncodeToString(p.Data[2:4]))
			case FuncWriteMultipleCoils:
				add(colBitCnt, u(int(be16(p.Data[2:]))))
				add(colByteCnt, u(int(p.Data[4])))
				add(colData, hex.EncodeToString(p.Data[5:]))
			case FuncWriteMultipleRegisters:
				add(colWordCnt, u(int(be16(p.Data[2:]))))
				add(colByteCnt, u(int(p.Data[4])))
				for i, v := range unpackRegs(p.Data[5:], int(be16(p.Data[2:]))) {
					add(colRegNum, u(int(be16(p.Data))+i))
					add(colRegVal, u(int(v)))
				}
			}
			continue
		}
		if p.Function&0x80 != 0 {
			add(colException, u(int(t.Exception)))
			continue
		}
		if t.Request != nil {
			add(colRequestFrame, u(t.Request.Frame))
		}
		switch fc {
		case FuncReadCoils, FuncReadDiscreteInputs:
			add(colByteCnt, u(int(p.Data[0])))
			for i, v := range t.Values {
				add(colBitNum, u(int(t.Address)+i))
				add(colBitVal, u(int(v)))
			}
		case FuncReadHoldingRegisters, FuncReadInputRegisters:
			add(colByteCnt, u(int(p.Data[0])))
			for i, v := range t.Values {
				add(colRegNum, u(int(t.Address)+i))
				add(colRegVal, u(int(v)))
			}
		case FuncWriteSingleCoil, FuncWriteSingleRegister:
			add(colReference, u(int(be16(p.Data))))
			add(colData, hex.EncodeToString(p.Data[2:4]))
		case FuncWriteMultipleCoils:
			add(colReference, u(int(be16(p.Data))))
			add(colBitCnt, u(int(be16(p.Data[2:]))))
		case FuncWriteMultipleRegisters:
			add(colReference, u(int(be16(p.Data))))
			add(colWordCnt, u(int(be16(p.Data[2:]))))
		}
	}
	return rows
}

// TestRowsAgreeWithTshark: for the two captures checked here, every
// Modbus frame tshark shows is reconstructed with the same transactions,
// pairing and values, and no other frame is.
func TestRowsAgreeWithTshark(t *testing.T) {
	for _, name := range []string{"modbus_test", "ModbusTCP"} {
		t.Run(name, func(t *testing.T) {
			want := readFixture(t, name)
			c, err := ReadFile(capturePath(name), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := tsharkRows(c)
			diffs := 0
			for i := 0; i < max(len(got), len(want)) && diffs < 10; i++ {
				var g, w string
				if i < len(got) {
					g = strings.Join(got[i], "\t")
				}
				if i < len(want) {
					w = strings.Join(want[i], "\t")
				}
				if g != w {
					diffs++
					t.Errorf("row %d differs:\n got  %q\n want %q", i, g, w)
				}
			}
			if len(got) != len(want) {
				t.Errorf("got %d rows, tshark has %d", len(got), len(want))
			}
		})
	}
}

// tsharkPDU is one PDU cut out of a tshark row.
type tsharkPDU struct {
	frame   int
	time    string
	request bool
	server  string
	client  string
	trans   string
	unit    string
	fc      int
	exc     bool
	reqF    int
	ref     int
	count   int // bit_cnt or word_cnt of a request
	regs    [][2]int
	data    string
}

// splitRows cuts tshark's comma-joined columns back into PDUs, using which
// fields Wireshark prints for each function code and direction. It returns
// false for a row it cannot split unambiguously (an unmatched response next
// to matched ones).
func splitRow(row []string) ([]tsharkPDU, bool) {
	list := func(col int) []string {
		if row[col] == "" {
			return nil
		}
		return strings.Split(row[col], ",")
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	trans, units, lens, fcs := list(colTransID), list(colUnit), list(colLen), list(colFunc)
	excs, reqFs, refs := list(colException), list(colRequestFrame), list(colReference)
	words, bitCnts, byteCnts := list(colWordCnt), list(colBitCnt), list(colByteCnt)
	regNums, regVals, datas := list(colRegNum), list(colRegVal), list(colData)
	request := row[colDstPort] == "502"
	server, client := row[colIPDst]+":"+row[colDstPort], row[colIPSrc]+":"+row[colSrcPort]
	if !request {
		server, client = client, server
	}
	pop := func(l *[]string) string {
		if len(*l) == 0 {
			return ""
		}
		v := (*l)[0]
		*l = (*l)[1:]
		return v
	}
	nonExc := len(fcs) - len(excs)
	if !request && len(reqFs) != nonExc {
		return nil, false
	}
	var out []tsharkPDU
	excLeft := len(excs)
	for i := range trans {
		p := tsharkPDU{frame: atoi(row[colFrame]), time: row[colTime], request: request, server: server, client: client,
			trans: trans[i], unit: units[i], fc: atoi(fcs[i])}
		l := atoi(lens[i])
		if request {
			p.ref = atoi(pop(&refs))
			switch p.fc {
			case 1, 2:
				p.count = atoi(pop(&bitCnts))
			case 3, 4:
				p.count = atoi(pop(&words))
			case 5, 6:
				p.data = pop(&datas)
			case 15:
				p.count = atoi(pop(&bitCnts))
				pop(&byteCnts)
				p.data = pop(&datas)
			case 16:
				p.count = atoi(pop(&words))
				pop(&byteCnts)
				for j := 0; j < p.count; j++ {
					p.regs = append(p.regs, [2]int{atoi(pop(&regNums)), atoi(pop(&regVals))})
				}
			}
			out = append(out, p)
			continue
		}
		// An exception response is 3 bytes long (unit, function, code);
		// tshark prints its function code without the exception bit.
		if l == 3 && excLeft > 0 {
			p.exc = true
			excLeft--
			out = append(out, p)
			continue
		}
		p.reqF = atoi(pop(&reqFs))
		switch p.fc {
		case 1, 2:
			// The bits follow in the row; the caller takes as many as
			// the request asked for.
			pop(&byteCnts)
		case 3, 4:
			pop(&byteCnts)
			for j := 0; j < (l-3)/2; j++ {
				p.regs = append(p.regs, [2]int{atoi(pop(&regNums)), atoi(pop(&regVals))})
			}
		case 5, 6:
			p.ref = atoi(pop(&refs))
			p.data = pop(&datas)
		case 15:
			p.ref = atoi(pop(&refs))
			pop(&bitCnts)
		case 16:
			p.ref = atoi(pop(&refs))
			pop(&words)
		}
		out = append(out, p)
	}
	return out, true
}

// tsharkTimeline builds the register timeline from tshark's rows alone.
func tsharkTimeline(t *testing.T, rows [][]string) (map[string][]string, int) {
	requests := map[string]tsharkPDU{} // frame/trans -> request
	series := map[string][]string{}
	skipped := 0
	for _, row := range rows {
		pdus, ok := splitRow(row)
		if !ok {
			skipped++
			continue
		}
		bitNums := strings.Split(row[colBitNum], ",")
		bitVals := strings.Split(row[colBitVal], ",")
		for _, p := range pdus {
			if p.request {
				requests[strconv.Itoa(p.frame)+"/"+p.trans] = p
				continue
			}
			if p.exc {
				continue
			}
			req, ok := requests[strconv.Itoa(p.reqF)+"/"+p.trans]
			if !ok {
				t.Fatalf("frame %d: request frame %d with transaction %s not in fixture", p.frame, p.reqF, p.trans)
			}
			put := func(addr, val int) {
				k := fmt.Sprintf("%s/%s/%d/%d", p.server, p.unit, p.fc, addr)
				series[k] = append(series[k], fmt.Sprintf("%d=%d", p.frame, val))
			}
			switch p.fc {
			case 1, 2:
				for j := 0; j < req.count; j++ {
					n, _ := strconv.Atoi(bitNums[0])
					v, _ := strconv.Atoi(bitVals[0])
					bitNums, bitVals = bitNums[1:], bitVals[1:]
					put(n, v)
				}
			case 3, 4:
				for _, r := range p.regs {
					put(r[0], r[1])
				}
			case 5:
				v := 0
				if req.data == "ff00" {
					v = 1
				}
				put(req.ref, v)
			case 6:
				b, _ := hex.DecodeString(p.data)
				put(p.ref, int(b[0])<<8|int(b[1]))
			case 15:
				b, _ := hex.DecodeString(req.data)
				for j := 0; j < req.count; j++ {
					put(req.ref+j, int(b[j/8]>>(j%8))&1)
				}
			case 16:
				for _, r := range req.regs {
					put(r[0], r[1])
				}
			}
		}
	}
	return series, skipped
}

// TestTimelineAgreesWithTshark: the per server/unit/function/address value
// timeline equals the one built from tshark's fields alone.
func TestTimelineAgreesWithTshark(t *testing.T) {
	for _, name := range []string{"modbus_test", "ModbusTCP"} {
		t.Run(name, func(t *testing.T) {
			want, skipped := tsharkTimeline(t, readFixture(t, name))
			if skipped > 1 {
				t.Errorf("%d tshark rows could not be split", skipped)
			}
			c, err := ReadFile(capturePath(name), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for k, samples := range c.Series {
				key := fmt.Sprintf("%s/%d/%d/%d", k.Server, k.Unit, k.Function, k.Address)
				for _, s := range samples {
					got[key] = append(got[key], fmt.Sprintf("%d=%d", s.Frame, s.Value))
				}
			}
			if len(got) != len(want) {
				t.Errorf("got %d series, tshark %d", len(got), len(want))
			}
			n := 0
			for k, w := range want {
				if g := got[k]; strings.Join(g, " ") != strings.Join(w, " ") {
					t.Errorf("series %s: got %d samples, tshark %d (first got %v, want %v)", k, len(g), len(w), g[:min(3, len(g))], w[:min(3, len(w))])
				}
				n += len(w)
			}
			if n == 0 {
				t.Fatal("tshark timeline is empty")
			}
			t.Logf("%d series, %d samples agree", len(want), n)
		})
	}
}
