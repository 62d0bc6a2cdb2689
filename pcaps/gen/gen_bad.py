#!/usr/bin/python3
"""gen_bad.py OUTDIR - inputs for the capture error paths, in OUTDIR/bad/."""
import sys

from tcpgen import LINKTYPE_ETHERNET, Capture, TcpSession, http_post, http_response, out_path, \
    pcap_bytes, seeded_bytes

CAPTURE_MAGICS = {bytes.fromhex(m) for m in
                  ("a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1", "0a0d0d0a")}


def write(outdir, name, data):
    with open(out_path(outdir, "bad/" + name), "wb") as f:
        f.write(data)


def main():
    outdir = sys.argv[1]
    write(outdir, "empty.pcap", b"")

    junk = seeded_bytes(4242, 512)
    assert junk[:4] not in CAPTURE_MAGICS
    write(outdir, "garbage.pcap", junk)

    cap = Capture()
    s = TcpSession(cap, "10.0.0.5", "198.51.100.7", 40500, 80)
    s.handshake()
    s.send("c", http_post("198.51.100.7", "/cut", b"field=truncated-record-test"))
    s.send("s", http_response(b"this response is cut short by the end of the file\n"), ack_every=0)
    data = pcap_bytes(cap.frames, LINKTYPE_ETHERNET)
    write(outdir, "truncated-record.pcap", data[:-10])  # the last record misses 10 bytes

    write(outdir, "header-only.pcap", pcap_bytes([], LINKTYPE_ETHERNET))
    write(outdir, "not-a-capture.txt",
          b"This is a text file, not a pcap or pcapng capture.\n"
          b"dlpsensor must refuse it when it is named on the command line,\n"
          b"and skip it when it is found in a directory of captures.\n")
    write(outdir, "no-captures-dir/README.txt",
          b"This directory holds no capture file: opening it as input is an error\n"
          b"(\"no capture files in directory\").\n")


if __name__ == "__main__":
    main()
