#!/usr/bin/env python3
"""Writes the seed corpora of the session fuzzers (session_harness.h's format).

Run from the top of the checkout: python3 fuzz/make_session_seeds.py
"""

import os
import struct


def connection(peer, messages, framing="line", piece=255):
    if framing == "line":
        stream = b"".join(m + b"\n" for m in messages)
        kind = 0
    else:
        stream = b"".join(struct.pack(">I", len(m)) + m for m in messages)
        kind = 1
    return bytes([peer, kind, piece - 1]) + struct.pack(">H", len(stream)) + stream


def write(target, name, *connections):
    folder = os.path.join("fuzz", "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(b"".join(connections))


write("identity_fuzzer", "stranger_named_then_known",
      connection(0, [b"Alice", b"exit"]), connection(0, [b"exit"]))
write("identity_fuzzer", "bad_names",
      connection(1, [b"", b"\x01bad", b"\xff\xfe", b"x" * 70, "Zoë".encode(), b"NAME Bob",
                     b"NAME ", b"FORGET", b"what", b"exit"]))
write("identity_fuzzer", "length_framing_cut",
      connection(2, [b"Carol", b"NAME Dave", b"FORGET", b"Eve"], framing="length", piece=3))
write("identity_fuzzer", "store_fails",
      connection(3, [b"@@fail", b"Frank", b"@@fail", b"NAME G", b"@@fail", b"FORGET"]),
      connection(3, [b"@@fail"]))
write("identity_fuzzer", "line_too_long", connection(0, [b"y" * 400]))
write("identity_fuzzer", "half_close_mid_line",
      bytes([0, 0, 4, 0, 5]) + b"Hal\r\n"[:4])

write("auth_fuzzer", "register_login_resume",
      connection(0, [b"REGISTER alice correct-horse", b"WHOAMI", b"LOGOUT", b"LOGOUT",
                     b"LOGIN alice correct-horse", b"exit"]),
      connection(1, [b"RESUME $TOKEN", b"WHOAMI", b"PASSWD correct-horse battery-staple",
                     b"exit"]),
      connection(0, [b"LOGIN battery-staple", b"WHOAMI"]))
write("auth_fuzzer", "failures_and_limit",
      connection(2, [b"REGISTER bob password1", b"LOGIN bob wrong-pass", b"LOGIN bob wrong-pass",
                     b"LOGIN bob wrong-pass", b"LOGIN bob wrong-pass", b"LOGIN bob wrong-pass",
                     b"LOGIN bob password1", b"@@tick", b"@@tick", b"LOGIN bob password1"]))
write("auth_fuzzer", "usage_and_bad_args",
      connection(3, [b"REGISTER", b"REGISTER a", b"REGISTER a b c", b"REGISTER bad/name pw123456",
                     b"REGISTER ok short", "REGISTER ok pässwörd".encode(),
                     b"REGISTER ok \x01ctl1234",
                     b"LOGIN", b"LOGIN only-password", b"RESUME", b"RESUME nope", b"PASSWD a b",
                     b"WHOAMI x", b"nonsense", b"REGISTER  two-spaces"], framing="length", piece=7))
write("auth_fuzzer", "expiry_and_store_fails",
      connection(0, [b"REGISTER carol hunter2hunter2"]),
      connection(1, [b"@@fail", b"RESUME $TOKEN"] + [b"@@tick"] * 150 + [b"RESUME $TOKEN"]),
      connection(2, [b"@@fail", b"REGISTER dan password9", b"@@fail",
                     b"LOGIN carol hunter2hunter2"]))
write("auth_fuzzer", "later_store_calls_fail",
      connection(0, [b"@@fail2", b"REGISTER erin password7", b"@@fail3", b"RESUME $TOKEN",
                     b"@@fail2", b"PASSWD password7 password8", b"@@fail3",
                     b"LOGIN erin password8", b"@@fail2", b"LOGOUT"]))
write("auth_fuzzer", "line_too_long", connection(0, [b"LOGIN " + b"z" * 400]))
