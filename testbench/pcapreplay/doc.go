// Package pcapreplay reconstructs what Modbus TCP servers served from a
// packet capture: every request/response pair, and from those the value
// timeline of each register or bit per server, unit, function and address.
//
// It reads pcap and pcapng files with gopacket's pure-Go readers (no cgo, no
// libpcap), reassembles each TCP direction by sequence number (several MBAP
// PDUs in one segment, one PDU split over several segments, retransmissions
// and capture gaps), and pairs a response with the most recent earlier
// request of the same connection, transaction id, unit and function, the rule
// Wireshark's Modbus/TCP dissector uses. Exception replies, unanswered
// requests, responses whose request is not in the capture and non-Modbus
// bytes on the Modbus port are counted, never fatal.
package pcapreplay
