"""Framing: lines and DSMR telegrams cut out of a byte stream, bad input dropped with one note each."""

from __future__ import annotations

from devices.serial.framing import Dropped, LineFramer
from devices.serial.telegram import TelegramFramer, crc16, parse

# DSMR 5 example telegram from ndokter/dsmr_parser (test/example_telegrams.py, TELEGRAM_V5), written
# out here so a change that breaks compatibility with real meters fails this test.
TELEGRAM_V5 = (
    b"/ISk5\\2MT382-1000\r\n"
    b"\r\n"
    b"1-3:0.2.8(50)\r\n"
    b"0-0:1.0.0(170102192002W)\r\n"
    b"0-0:96.1.1(4B384547303034303436333935353037)\r\n"
    b"1-0:1.8.1(000004.426*kWh)\r\n"
    b"1-0:1.8.2(000002.399*kWh)\r\n"
    b"1-0:2.8.1(000002.444*kWh)\r\n"
    b"1-0:2.8.2(000000.000*kWh)\r\n"
    b"0-0:96.14.0(0002)\r\n"
    b"1-0:1.7.0(00.244*kW)\r\n"
    b"1-0:2.7.0(00.000*kW)\r\n"
    b"0-0:96.7.21(00013)\r\n"
    b"0-0:96.7.9(00000)\r\n"
    b"1-0:99.97.0(0)(0-0:96.7.19)\r\n"
    b"1-0:32.32.0(00000)\r\n"
    b"1-0:52.32.0(00000)\r\n"
    b"1-0:72.32.0(00000)\r\n"
    b"1-0:32.36.0(00000)\r\n"
    b"1-0:52.36.0(00000)\r\n"
    b"1-0:72.36.0(00000)\r\n"
    b"0-0:96.13.0()\r\n"
    b"1-0:32.7.0(0230.0*V)\r\n"
    b"1-0:52.7.0(0230.0*V)\r\n"
    b"1-0:72.7.0(0229.0*V)\r\n"
    b"1-0:31.7.0(0.48*A)\r\n"
    b"1-0:51.7.0(0.44*A)\r\n"
    b"1-0:71.7.0(0.86*A)\r\n"
    b"1-0:21.7.0(00.070*kW)\r\n"
    b"1-0:41.7.0(00.032*kW)\r\n"
    b"1-0:61.7.0(00.142*kW)\r\n"
    b"1-0:22.7.0(00.000*kW)\r\n"
    b"1-0:42.7.0(00.000*kW)\r\n"
    b"1-0:62.7.0(00.000*kW)\r\n"
    b"0-1:24.1.0(003)\r\n"
    b"0-1:96.1.0(3232323241424344313233343536373839)\r\n"
    b"0-1:24.2.1(170102161005W)(00000.107*m3)\r\n"
    b"0-2:24.1.0(003)\r\n"
    b"0-2:96.1.0()\r\n"
    b"!6EEE\r\n"
)


def frames(items: list[bytes | Dropped]) -> list[bytes]:
    return [item for item in items if isinstance(item, bytes)]


def drops(items: list[bytes | Dropped]) -> list[str]:
    return [item.counter for item in items if isinstance(item, Dropped)]


def test_crc_of_the_reference_telegram_matches_what_the_meter_sent() -> None:
    body = TELEGRAM_V5[: TELEGRAM_V5.index(b"!") + 1]
    assert crc16(body) == 0x6EEE


def test_a_telegram_split_into_single_bytes_comes_out_whole() -> None:
    framer = TelegramFramer(check_crc=True)
    items: list[bytes | Dropped] = []
    for index in range(len(TELEGRAM_V5)):
        items += framer.feed(TELEGRAM_V5[index : index + 1])
    assert items == [TELEGRAM_V5]


def test_the_reference_telegram_parses_into_its_objects() -> None:
    telegram = parse(TELEGRAM_V5)
    assert telegram.header == "ISk5\\2MT382-1000"
    assert telegram.objects["1-0:1.8.1"] == ("000004.426*kWh",)
    assert telegram.objects["0-1:24.2.1"] == ("170102161005W", "00000.107*m3")
    assert telegram.objects["1-0:99.97.0"] == ("0", "0-0:96.7.19")


def test_a_flipped_bit_is_caught_by_the_crc_and_the_next_telegram_still_counts() -> None:
    framer = TelegramFramer(check_crc=True)
    bad = TELEGRAM_V5.replace(b"00.244*kW", b"00.245*kW")
    items = framer.feed(bad + TELEGRAM_V5)
    assert drops(items) == ["bad_crc"]
    assert frames(items) == [TELEGRAM_V5]


def test_a_telegram_cut_short_by_the_next_one_is_dropped_as_truncated() -> None:
    framer = TelegramFramer(check_crc=True)
    cut = TELEGRAM_V5[: len(TELEGRAM_V5) // 2]
    items = framer.feed(cut) + framer.feed(TELEGRAM_V5)
    assert drops(items) == ["truncated"]
    assert frames(items) == [TELEGRAM_V5]


def test_noise_between_telegrams_gives_one_note_however_long_it_is() -> None:
    framer = TelegramFramer(check_crc=True)
    items = framer.feed(b"\x00\xff\xfe garbage")
    for _ in range(20):
        items += framer.feed(b"\x13\x37 more noise \x00" * 50)
    items += framer.feed(TELEGRAM_V5)
    assert drops(items) == ["garbage"]
    assert frames(items) == [TELEGRAM_V5]


def test_a_dsmr4_telegram_without_crc_is_refused_but_accepted_for_dsmr3() -> None:
    body = TELEGRAM_V5[: TELEGRAM_V5.index(b"!") + 1] + b"\r\n"
    assert drops(TelegramFramer(check_crc=True).feed(body)) == ["bad_crc"]
    assert frames(TelegramFramer(check_crc=False).feed(body)) == [body]


def test_an_endless_telegram_is_dropped_without_holding_on_to_it() -> None:
    framer = TelegramFramer(check_crc=True, max_size=4096)
    items = framer.feed(b"/XYZ5 start\r\n")
    for _ in range(100):
        items += framer.feed(b"1-0:1.8.1(000004.426*kWh)\r\n" * 40)
    items += framer.feed(b"!0000\r\n" + TELEGRAM_V5)
    assert drops(items) == ["too_long"]
    assert frames(items) == [TELEGRAM_V5]
    assert framer.buffered == 0


def test_lines_across_chunks_with_crlf_and_blank_lines() -> None:
    framer = LineFramer(64)
    items = framer.feed(b"RELAY 1 O") + framer.feed(b"N\r\n\r\nMOISTURE 5") + framer.feed(b"20\n")
    assert items == [b"RELAY 1 ON", b"MOISTURE 520"]


def test_a_100_kb_line_without_newline_is_dropped_once_in_bounded_memory() -> None:
    framer = LineFramer(1024)
    items: list[bytes | Dropped] = []
    for _ in range(100):
        items += framer.feed(b"x" * 1024)
        assert framer.buffered <= 1025
    items += framer.feed(b"still x\nRELAY 2 OFF\n")
    assert drops(items) == ["line_too_long"]
    assert frames(items) == [b"RELAY 2 OFF"]


def test_a_line_exactly_at_the_limit_passes_one_byte_more_does_not() -> None:
    framer = LineFramer(8)
    assert framer.feed(b"12345678\r\n") == [b"12345678"]
    assert drops(framer.feed(b"123456789\n")) == ["line_too_long"]
