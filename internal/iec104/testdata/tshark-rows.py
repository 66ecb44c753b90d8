"""Flattens tshark's JSON for IEC 104 into one row per APDU:
frame, APCI ("I tx rx", "S rx", "U utype", "malformed len=N", with "+prefix=N" when tshark
saw N octets of garbage before the start octet), ASDU header ("type sq
numix cot neg test oa ca", "-" when tshark could not decode one), and the
objects, "ioa:key=value,..." separated by ";". Used by gen-golden.sh."""
import json
import sys

LEAVES = {
    "siq.spi": "spi", "diq.dpi": "dpi", "vti.v": "vti", "vti.t": "vti.t",
    "bitstring": "bits", "normval": "norm", "scalval": "scal", "float": "float",
    "bcr.count": "count", "bcr.sq": "count.sq", "bcr.cy": "cy", "bcr.ca": "ca", "bcr.iv": "iv",
    "coi": "coi", "qoi": "qoi", "qcc": "qcc", "sco": "sco", "dco": "dco",
    "siq.iv": "iv", "siq.nt": "nt", "siq.sb": "sb", "siq.bl": "bl",
    "diq.iv": "iv", "diq.nt": "nt", "diq.sb": "sb", "diq.bl": "bl",
    "qds.iv": "iv", "qds.nt": "nt", "qds.sb": "sb", "qds.bl": "bl", "qds.ov": "ov",
    "cp56time.ms": "t.ms", "cp56time.min": "t.min", "cp56time.iv": "t.iv", "cp56time.hour": "t.hour",
    "cp56time.su": "t.su", "cp56time.day": "t.day", "cp56time.month": "t.month", "cp56time.year": "t.year",
}


def aslist(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def leaves(node, out):
    for k, v in node.items():
        if isinstance(v, dict):
            leaves(v, out)
        elif isinstance(v, list):
            for x in v:
                if isinstance(x, dict):
                    leaves(x, out)
        elif k.startswith("iec60870_asdu."):
            short = k[len("iec60870_asdu."):]
            if short in LEAVES:
                out.append((LEAVES[short], v))


def objects(asdu):
    objs = []
    for k, v in asdu.items():
        if not k.startswith("IOA: "):
            continue
        for o in aslist(v):
            kv = []
            leaves(o, kv)
            objs.append(o["iec60870_asdu.ioa"] + ":" + ",".join(f"{a}={b}" for a, b in kv))
    return ";".join(objs)


for pkt in json.load(sys.stdin):
    layers = pkt["_source"]["layers"]
    frame = layers["frame"]["frame.number"]
    asdus = aslist(layers.get("iec60870_asdu"))
    ai = 0
    for apci in aslist(layers.get("iec60870_104")):
        if not isinstance(apci, dict):
            continue
        if "iec60870_104.type" not in apci:
            # tshark marks it malformed (APDU length below 4)
            print(f"{frame}\tmalformed len={apci.get('iec60870_104.apdulen', '?')}\t-\t")
            continue
        t = int(apci["iec60870_104.type"], 16)
        if t in (0, 2):
            head = f"I {apci['iec60870_104.tx']} {apci['iec60870_104.rx']}"
        elif t == 1:
            head = f"S {apci['iec60870_104.rx']}"
        else:
            head = f"U {int(apci['iec60870_104.utype'], 16)}"
        if "iec60870_104.data" in apci:
            head += f"+prefix={len(apci['iec60870_104.data'].split(':'))}"
        hdr, objs = "-", ""
        if t in (0, 2):
            a = asdus[ai] if ai < len(asdus) else None
            ai += 1
            if isinstance(a, dict) and "iec60870_asdu.typeid" in a:
                g = lambda k: a.get("iec60870_asdu." + k, "?")
                hdr = " ".join(g(k) for k in ("typeid", "sq", "numix", "causetx", "nega", "test", "oa", "addr"))
                objs = objects(a)
        print(f"{frame}\t{head}\t{hdr}\t{objs}")
