#!/usr/bin/python3
"""gen_bad.py OUTDIR - inputs for the capture error paths, in OUTDIR/bad/."""
import struct
import sys

from tcpgen import LINKTYPE_ETHERNET, Capture, TcpSession, http_post, http_response, out_path, \
    pcap_bytes, seeded_bytes

CAPTURE_MAGICS = {bytes.fromhex(m) for m in
                  ("a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1", "0a0d0d0a")}


def write(outdir, name, data):
    with open(out_path(outdir, "bad/" + name), "wb") as f:
        f.write(data)


def caplen_over_wirelen(outdir):
    """A whole session in which three record headers claim fewer bytes on the wire (len)
    than they hold (caplen): the SYN 14 (its Ethernet header), the POST 60, the server's
    FIN 0. Every record's caplen bytes are the real frame; libpcap passes them on as is."""
    cap = Capture()
    s = TcpSession(cap, "10.0.0.5", "198.51.100.7", 40510, 80)
    s.handshake()
    post_at = len(cap.frames)
    s.send("c", http_post("198.51.100.7", "/wirelen", b"card=4539148803436467&note=caplen-over-len"))
    s.send("s", http_response(b"ok\n", ctype="text/plain"))
    fin_at = len(cap.frames) + 1  # the client's FIN, then the server's
    s.close()
    short = {0: 14, post_at: 60, fin_at: 0}
    assert len(cap.frames[post_at][1]) > 60
    out = [pcap_bytes([], LINKTYPE_ETHERNET)]
    for i, (ts, frame, _) in enumerate(cap.frames):
        out.append(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame),
                               short.get(i, len(frame))) + frame)
    write(outdir, "caplen-over-wirelen.pcap", b"".join(out))


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
    caplen_over_wirelen(outdir)


if __name__ == "__main__":
    main()
