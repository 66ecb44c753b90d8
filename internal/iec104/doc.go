// Package iec104 is a codec for IEC 60870-5-104 (and its Chinese
// equivalent DL/T 634.5104): the APCI frames of the link layer (I, S and U
// formats) and the ASDUs of the monitoring direction and of the system
// commands a controlling station sends. It is written from the standard;
// no implementation was copied.
//
// Decoding never panics: short, overlong or unknown input is an error
// value (ErrUnknownType for a type this package does not decode), so a
// caller can count it and go on with the next frame.
package iec104
