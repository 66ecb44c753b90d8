#!/bin/sh
# Regenerates the tshark fixtures from the captures in ../../testdata.
# Run from this directory. Made with TShark (Wireshark) 4.0.17 (Debian 12).
set -eu
FIELDS="-e frame.number -e frame.time_epoch -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport -e mbtcp.trans_id -e mbtcp.unit_id -e mbtcp.len -e modbus.func_code -e modbus.exception_code -e modbus.request_frame -e modbus.reference_num -e modbus.word_cnt -e modbus.bit_cnt -e modbus.byte_cnt -e modbus.regnum16 -e modbus.regval_uint16 -e modbus.bitnum -e modbus.bitval -e modbus.data"
for f in ../../testdata/modbus-iti/*.pcap ../../testdata/zeek/*.pcap; do
	tshark -r "$f" -Y modbus -T fields $FIELDS | gzip -9 -n > "$(basename "$f" .pcap).tshark.tsv.gz"
done
