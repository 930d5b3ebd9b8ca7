"""A minimal RFC 5545 writer for the deadline feed (Outlook and Thunderbird subscribe to it).

Written by hand (the `icalendar` package is not installed): text values are escaped
(backslash, semicolon, comma, newline), instants are written in UTC (`…Z`), lines end with
CRLF and are folded at 75 octets without splitting a UTF-8 character.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from arsflow.engine.time.clock import ensure_utc

CRLF = "\r\n"


def escape_text(value: str) -> str:
    return (str(value).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def utc_stamp(moment: datetime) -> str:
    return ensure_utc(moment).strftime("%Y%m%dT%H%M%SZ")


def fold(line: str) -> str:
    """Split a content line into chunks of at most 75 octets; continuation lines start with
    one space (which counts in their 75)."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line
    parts: list[str] = []
    start = 0
    limit = 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # never cut inside a character
            end -= 1
        parts.append(data[start:end].decode("utf-8"))
        start = end
        limit = 74  # the leading space of a continuation line is one of the 75 octets
    return (CRLF + " ").join(parts)


@dataclass
class Event:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    url: str | None = None
    categories: str | None = None


def calendar(events: list[Event], *, name: str, stamp: datetime, prodid: str = "-//arsflow//Échéances//FR") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{prodid}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{escape_text(name)}", "X-WR-TIMEZONE:UTC",
             "REFRESH-INTERVAL;VALUE=DURATION:PT1H", "X-PUBLISHED-TTL:PT1H"]
    for event in events:
        lines += ["BEGIN:VEVENT", f"UID:{escape_text(event.uid)}", f"DTSTAMP:{utc_stamp(stamp)}",
                  f"DTSTART:{utc_stamp(event.start)}", f"DTEND:{utc_stamp(event.end)}",
                  f"SUMMARY:{escape_text(event.summary)}"]
        if event.description:
            lines.append(f"DESCRIPTION:{escape_text(event.description)}")
        if event.url:
            lines.append(f"URL:{event.url}")
        if event.categories:
            lines.append(f"CATEGORIES:{escape_text(event.categories)}")
        lines += ["TRANSP:TRANSPARENT", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return CRLF.join(fold(line) for line in lines) + CRLF
