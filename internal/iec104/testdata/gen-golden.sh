#!/bin/sh
# Regenerates the tshark golden files from the captures in
# testbench/testdata/iec104-iti. Run from this directory. Made once with
# TShark (Wireshark) 4.0.17 (Debian 12); the Go tests only read the output.
set -eu
# the python step fails loudly on a shape of JSON it does not know
for f in ../../../testbench/testdata/iec104-iti/*.pcap; do
	tshark -r "$f" -Y iec60870_104 -T json --no-duplicate-keys -J "frame iec60870_104 iec60870_asdu" |
		python3 tshark-rows.py > "$(basename "$f" .pcap).tshark.tsv"
done
