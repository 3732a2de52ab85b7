#!/usr/bin/env python3
"""Writes the seed corpus of chat_fuzzer (its format: chat_fuzzer.cc).

Run from the top of the checkout: python3 fuzz/make_chat_seeds.py
"""

import os


def d(source, text, step=0, expire=False, cut=False):
    control = source | step << 3 | (0x40 if expire else 0) | (0x80 if cut else 0)
    return bytes([control, len(text)]) + text


def write(name, *datagrams):
    folder = os.path.join("fuzz", "corpus", "chat_fuzzer")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(b"".join(datagrams))


def join(source, nick):
    return [d(source, b"JOIN " + nick), d(source, b"JOIN " + nick + b" $COOKIE\r\n")]


write("join_talk_leave",
      *join(0, b"alice"), *join(3, b"bob"),
      d(0, b"MSG $KEY hello there"), d(3, b"WHO $KEY"), d(0, b"PING $KEY\n"),
      d(3, b"HISTORY $KEY 1"), d(3, b"HISTORY $KEY x"), d(0, b"LEAVE $KEY"),
      d(3, b"MSG $KEY"), d(3, b"MSG $KEY  "), d(3, b"NOPE $KEY"), d(3, b"MSG wrongkey hi"))
write("strangers_get_little",
      d(2, b"JOIN x"), d(2, b"MSG a b"), d(2, b"JOIN"), d(2, b"JOIN bad\x01nick"),
      d(2, b"JOIN x notacookie"), d(5, b"\xff\xfe"), d(6, b"PING"), d(7, b"JOIN " + b"n" * 40))
write("full_room_and_taken_nick",
      *join(0, b"a"), *join(1, b"b"), *join(2, b"c"), *join(3, b"d"), *join(5, b"e"),
      *join(6, b"a"), d(4, b"JOIN z $COOKIE"))
write("timeouts_and_rate",
      *join(0, b"\xc3\xa9t\xc3\xa9"), *[d(0, b"PING $KEY") for _ in range(15)],
      d(0, b"PING $KEY", step=4, expire=True), *join(1, b"late"),
      d(1, b"MSG $KEY " + b"m" * 200, step=3), d(1, b"JOIN again $COOKIE", step=5),
      d(1, b"MSG $KEY big", cut=True), d(1, b"WHO $KEY", step=7, expire=True))
