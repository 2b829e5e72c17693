"""The Cytation serial protocol: byte examples from docs/cytation_facts.md (captured PyLabRobot traffic)."""

import math

import pytest

from instruments.cytation import protocol as p

FL_FULL_PLATE_485_528 = "0084010101081200012001000011001000001350001002002000485000052800000000000000000021001119"
ABS_FULL_PLATE_580 = "004701010108120001200100001100100000106000080580113"
ABS_BODY_PREFIX = b"01,1,\r000:00:00.0,228,01,01,+0.1917,01,02,+0.1225"
PARTIAL_BODY = (b"01,1,\r000:00:00.0,237,02,02,0000043,02,03,0000014\r\n,03,03,0000014,03,02,0000012\r\n"
                b",04,02,0000011,04,03,*******\r\n237\x1a160\x1a0000\x03")


def test_fluorescence_definition_matches_captured_frame():
    assert p.fluorescence_definition(p.Region(1, 1, 8, 12), 485, 528) == FL_FULL_PLATE_485_528


def test_absorbance_definition_matches_captured_frame():
    assert p.absorbance_definition(p.Region(1, 1, 8, 12), 580) == ABS_FULL_PLATE_580


def test_length_field_counts_characters_after_it_including_checksum():
    frame = p.fluorescence_definition(p.Region(2, 3, 4, 5), 365, 500)
    assert int(frame[:4]) == len(frame) - 4 == 84


def test_checksum_of_ex360_em400_on_a1_c3_is_in_the_refused_band():
    frame = p.fluorescence_definition(p.Region(1, 1, 3, 3), 360, 400)
    assert p.definition_checksum(frame) == 95
    assert p.definition_checksum(frame) in p.REFUSED_CHECKSUMS


def test_parse_definition_round_trips_and_rejects_bad_checksum():
    d = p.parse_definition(FL_FULL_PLATE_485_528)
    assert (d.kind, d.region, d.excitation_nm, d.emission_nm, d.checksum) == (
        "fluorescence", p.Region(1, 1, 8, 12), 485, 528, 19)
    assert p.parse_definition(ABS_FULL_PLATE_580).wavelength_nm == 580
    with pytest.raises(p.ProtocolError, match="checksum"):
        p.parse_definition(FL_FULL_PLATE_485_528[:-2] + "20")
    with pytest.raises(p.ProtocolError, match="length"):
        p.parse_definition("0099" + FL_FULL_PLATE_485_528[4:])


def test_optics_height_and_temperature_fields():
    assert p.format_optics_height(7.5) == "621720"
    assert p.format_optics_height(7.0) == "621220"
    assert p.format_temperature(37) == "37000"
    assert p.format_temperature(None) == "00000"
    assert p.parse_temperature("2360000") == pytest.approx(23.6)
    with pytest.raises(p.ProtocolError):
        p.parse_temperature("0000")


def test_firmware_and_serial_replies():
    assert p.parse_firmware("1650200  Version 1.04   0000") == "1.04"
    assert p.parse_serial_number("00000000        0000") == "00000000"
    assert p.decode_reply(b"\x062360000\x03") == "2360000"
    with pytest.raises(p.ProtocolError):
        p.decode_reply(b"2360000\x03")


def test_plate_geometry_round_trips_the_captured_96_well_string():
    text = "08120112207434014351135308559127881422"
    g = p.PlateGeometry.decode(text)
    assert (g.rows, g.columns, g.a1_y_mm, g.height_mm) == (8, 12, 11.22, 14.22)
    assert g.encode() == text


def test_body_of_a_partial_rectangle_is_serpentine_with_overrange_as_nan():
    body = p.parse_body(PARTIAL_BODY)
    assert list(body.values)[:4] == [(2, 2), (2, 3), (3, 3), (3, 2)]
    assert body.values[(2, 2)] == 43 and math.isnan(body.values[(4, 3)])
    assert (body.field, body.trailer, body.status) == ("237", "160", "0000")


def test_encode_body_reproduces_the_captured_layout():
    region = p.Region(2, 2, 4, 3)
    values = {(2, 2): "0000043", (2, 3): "0000014", (3, 3): "0000014", (3, 2): "0000012", (4, 2): "0000011",
              (4, 3): "*******"}
    assert p.encode_body(region, values, field=237, trailer=160) == PARTIAL_BODY


def test_truncated_body_is_a_protocol_error():
    with pytest.raises(p.ProtocolError):
        p.parse_body(PARTIAL_BODY[:-12])
    assert p.parse_body(ABS_BODY_PREFIX + b"\r\n228\x1a041\x1a0000\x03").values[(1, 2)] == pytest.approx(0.1225)


def test_cover_with_rectangles_and_growth_candidates():
    cells = [(1, 1)] + [(r, c) for r in range(2, 8) for c in range(1, 4)] + [(4, 4), (5, 4), (6, 4)]
    regions = p.cover_with_rectangles(cells)
    covered = [cell for r in regions for cell in r.serpentine()]
    assert sorted(covered) == sorted(cells) and len(covered) == len(set(covered))
    grown = p.grown_regions(p.Region(1, 1, 1, 1), 8, 12)
    assert grown[0].n_wells == 2 and all(g.max_row <= 8 and g.max_col <= 12 for g in grown)
