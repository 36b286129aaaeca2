"""Exports: every format parses back (subtitles with the parser below), cues stay readable, zips hold every file."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import psycopg
import pytest

from repo.rows import Actor
from tests import factories
from tests.web import register, signed_in
from web.exports import TranscriptExportOut

SEGMENTS = [
    # (start, end, speaker label, text)
    (
        0.0,
        12.0,
        "SPEAKER_00",
        "Hello everyone and welcome to the weekly review of our budget and the plans for next quarter, "
        "which we will go through slowly today.",
    ),
    (12.0, 13.0, "SPEAKER_01", "Thanks."),
    (
        13.0,
        40.0,
        "SPEAKER_00",
        "See https://example.com/a-very-long-address-that-does-not-fit-on-any-subtitle-line for the "
        "numbers & the <draft> --> final version",
    ),
    (40.0, 60.0, None, "Silence."),
]
NAMES = {"SPEAKER_00": "Ann", "SPEAKER_01": "Bob"}


@dataclass(frozen=True)
class ParsedCue:
    start: float
    end: float
    lines: list[str]


def _seconds(stamp: str, separator: str) -> float:
    match = re.fullmatch(rf"(\d\d):(\d\d):(\d\d){re.escape(separator)}(\d\d\d)", stamp)
    assert match, stamp
    hours, minutes, seconds, millis = (int(x) for x in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def parse_srt(text: str) -> list[ParsedCue]:
    """Strict SRT: numbered blocks from 1, a timing line, one or more text lines, blocks separated by a blank line."""
    assert text.endswith("\n\n") or text == ""
    cues = []
    for number, block in enumerate(text.strip("\n").split("\n\n"), start=1):
        lines = block.split("\n")
        assert lines[0] == str(number), block
        start, arrow, end = lines[1].split(" ")
        assert arrow == "-->", block
        assert len(lines) >= 3 and all(line.strip() for line in lines[2:]), block
        cues.append(ParsedCue(_seconds(start, ","), _seconds(end, ","), lines[2:]))
    return cues


def parse_vtt(text: str) -> tuple[list[ParsedCue], list[str]]:
    """WebVTT: the header, NOTE blocks, cues (timing line and text, entities unescaped)."""
    header, _, rest = text.partition("\n\n")
    assert header == "WEBVTT"
    cues, notes = [], []
    for block in rest.strip("\n").split("\n\n") if rest.strip() else []:
        lines = block.split("\n")
        if lines[0] == "NOTE":
            notes.append("\n".join(lines[1:]))
            continue
        start, arrow, end = lines[0].split(" ")
        assert arrow == "-->" and len(lines) >= 2, block
        assert all("-->" not in line and "<" not in line for line in lines[1:]), block
        cues.append(ParsedCue(_seconds(start, "."), _seconds(end, "."), [html.unescape(x) for x in lines[1:]]))
    return cues, notes


def assert_readable(cues: list[ParsedCue]) -> None:
    assert cues
    for before, cue in zip([None, *cues], cues, strict=False):
        assert 1 <= len(cue.lines) <= 2, cue
        assert all(len(line) <= 42 for line in cue.lines), cue
        assert cue.start <= cue.end <= cue.start + 7.0005, cue
        if before is not None:
            assert before.start <= cue.start, (before, cue)


def words_of(cues: list[ParsedCue]) -> list[str]:
    return [word for cue in cues for line in cue.lines for word in line.split()]


def expected_words(speakers: bool, arrow: str = "->") -> list[str]:
    """SRT cannot carry "-->" in a cue (it becomes "->"); WebVTT escapes it."""
    words: list[str] = []
    for _, _, label, text in SEGMENTS:
        if speakers and label:
            words.append(f"{NAMES[label]}:")
        for word in text.replace("-->", arrow).split():
            words += [word[i : i + 42] for i in range(0, len(word), 42)]
    return words


@dataclass(frozen=True)
class Recording:
    headers: dict[str, str]
    uuid: str
    owner: Actor


@pytest.fixture
def recording(client: Any, fresh_url: str) -> Recording:
    """A transcribed file titled in two scripts and with a slash, with two named speakers and two comments."""
    headers, owner = signed_in(client, fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(
            conn, owner, status="completed", title="Weekly — Q3 / review ✓", duration=60.0
        )
        speakers = {}
        for label, name in NAMES.items():
            speakers[label] = factories.speaker(conn, owner, file_id, label)
            conn.execute("UPDATE speakers SET display_name = %s WHERE id = %s", [name, speakers[label]])
        for start, end, speaker, text in SEGMENTS:
            conn.execute(
                "INSERT INTO transcript_segments (media_file_id, speaker_id, start_time, end_time, text) "
                "VALUES (%s, %s, %s, %s, %s)",
                [file_id, speakers.get(speaker or ""), start, end, text],
            )
    for text, at in [("Great point --> agreed", 5.0), ("Send the slides", None)]:
        posted = client.post(f"/api/files/{file_uuid}/comments", headers=headers, json={"text": text, "timestamp": at})
        assert posted.status_code == 201, posted.text
    return Recording(headers, str(file_uuid), owner)


def export(client: Any, headers: dict[str, str], file_uuid: str, **params: Any) -> Any:
    response = client.get(f"/api/files/{file_uuid}/export", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("speakers", [True, False])
def test_srt_and_vtt_parse_back_into_readable_cues_carrying_every_word(
    client: Any, recording: Recording, speakers: bool
) -> None:
    headers, file_uuid = recording.headers, recording.uuid
    srt = export(client, headers, file_uuid, format="srt", speakers=speakers)
    assert srt.headers["content-type"].startswith("application/x-subrip")
    srt_cues = parse_srt(srt.text)
    assert_readable(srt_cues)
    assert words_of(srt_cues) == expected_words(speakers)
    assert len(srt_cues) > len(SEGMENTS), "long segments are split"
    # the one-word segment said over 20 s leaves the screen after 7 s
    assert (srt_cues[-1].start, srt_cues[-1].end) == (40.0, 47.0)

    vtt = export(client, headers, file_uuid, format="vtt", speakers=speakers, comments=True)
    vtt_cues, notes = parse_vtt(vtt.text)
    assert_readable(vtt_cues)
    assert [(c.start, c.end) for c in vtt_cues] == [(c.start, c.end) for c in srt_cues]
    assert words_of(vtt_cues) == expected_words(speakers, arrow="-->")
    assert notes == ["00:00:05 T: Great point -> agreed", "T: Send the slides"]


def test_json_csv_and_txt_parse_back_with_each_option(client: Any, recording: Recording) -> None:
    headers, file_uuid = recording.headers, recording.uuid
    full = TranscriptExportOut.model_validate_json(
        export(client, headers, file_uuid, format="json", comments=True).text
    )
    assert full.file.title == "Weekly — Q3 / review ✓" and str(full.file.uuid) == file_uuid
    assert [(s.start_time, s.end_time, s.speaker, s.text) for s in full.segments] == [
        (start, end, NAMES.get(label or ""), text) for start, end, label, text in SEGMENTS
    ]
    assert full.comments is not None and [(c.timestamp, c.author, c.text) for c in full.comments] == [
        (5.0, "T", "Great point --> agreed"),
        (None, "T", "Send the slides"),
    ]
    bare = TranscriptExportOut.model_validate_json(
        export(client, headers, file_uuid, format="json", speakers=False, timestamps=False).text
    )
    assert bare.comments is None
    assert {(s.start_time, s.end_time, s.speaker) for s in bare.segments} == {(None, None, None)}

    rows = list(csv.reader(io.StringIO(export(client, headers, file_uuid, format="csv", comments=True).text)))
    assert rows[0] == ["kind", "start_time", "end_time", "speaker", "text"]
    assert rows[1:] == [
        ["segment", f"{start:.3f}", f"{end:.3f}", NAMES.get(label or "", ""), text]
        for start, end, label, text in SEGMENTS
    ] + [["comment", "5.000", "5.000", "T", "Great point --> agreed"], ["comment", "", "", "T", "Send the slides"]]
    plain = list(
        csv.reader(
            io.StringIO(export(client, headers, file_uuid, format="csv", speakers="false", timestamps="false").text)
        )
    )
    assert plain == [["text"], *([text] for *_, text in SEGMENTS)]

    txt = export(client, headers, file_uuid, format="txt", comments=True).text.splitlines()
    assert txt[:3] == ["Weekly — Q3 / review ✓", "", f"[00:00:00] Ann: {SEGMENTS[0][3]}"]
    assert txt[-4:] == ["Comments", "", "[00:00:05] T: Great point --> agreed", "T: Send the slides"]
    no_names = export(client, headers, file_uuid, format="txt", speakers=False, timestamps=False).text
    assert "Ann" not in no_names and "[00:" not in no_names and SEGMENTS[1][3] in no_names


def test_the_download_is_named_after_the_title(client: Any, recording: Recording) -> None:
    headers, file_uuid = recording.headers, recording.uuid
    disposition = export(client, headers, file_uuid, format="vtt").headers["content-disposition"]
    ascii_name = re.search(r'filename="([^"]*)"', disposition)
    utf8_name = re.search(r"filename\*=UTF-8''(\S+)", disposition)
    assert ascii_name and utf8_name, disposition
    assert unquote(utf8_name.group(1)) == "Weekly — Q3 review ✓.vtt"
    assert ascii_name.group(1).isascii() and ascii_name.group(1).endswith(".vtt")


def test_bad_options_and_other_users_files_are_refused(client: Any, recording: Recording) -> None:
    headers, file_uuid = recording.headers, recording.uuid
    wrong = client.get(f"/api/files/{file_uuid}/export", headers=headers, params={"format": "docx"})
    assert wrong.status_code in (400, 422) and wrong.json()["field"] == "format"
    stranger = register(client)
    assert client.get(f"/api/files/{file_uuid}/export", headers=stranger).status_code == 404
    body = {"file_uuids": [file_uuid], "format": "srt"}
    # the body names the files, not the path: a reference to nothing of the caller's is a 409 naming the field
    refused = client.post("/api/files/export", headers=stranger, json=body)
    assert (refused.status_code, refused.json()["field"]) == (409, "file_uuids")


def test_a_zip_holds_one_parsable_entry_per_file(client: Any, fresh_url: str, recording: Recording) -> None:
    headers, file_uuid = recording.headers, recording.uuid
    more = []
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        for n in range(3):
            file_id, other_uuid = factories.media_file(
                conn, recording.owner, filename=f"call-{n}.wav", title="Same title"
            )
            factories.segments(conn, file_id, [f"call {n} line {i}" for i in range(3)])
            more.append(str(other_uuid))
    uuids = [file_uuid, *more, file_uuid]  # a repeated uuid is exported once
    response = client.post("/api/files/export", headers=headers, json={"file_uuids": uuids, "format": "srt"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert re.search(r'filename="transcripts-\d{4}-\d\d-\d\d\.zip"', response.headers["content-disposition"])
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == ["Weekly — Q3 review ✓.srt", "Same title.srt", "Same title (2).srt", "Same title (3).srt"]
        for name in names:
            assert_readable(parse_srt(archive.read(name).decode()))
        assert words_of(parse_srt(archive.read(names[0]).decode())) == expected_words(True)
        assert words_of(parse_srt(archive.read(names[2]).decode())) == [
            w for i in range(3) for w in ("call", "1", "line", str(i))
        ]

    missing = client.post("/api/files/export", headers=headers, json={"file_uuids": [*more, str(uuid.uuid4())]})
    assert missing.status_code == 409 and missing.json()["field"] == "file_uuids"
    empty = client.post("/api/files/export", headers=headers, json={"file_uuids": []})
    assert empty.status_code in (400, 422) and empty.json()["field"] == "file_uuids"
