"""Cron schedules and time zones as the KubeRay operator reads a RayCronJob's (app/validation/schedule.py:
robfig/cron v3.0.1's ParseStandard, parser.go and spec.go), and the cron job rules around them
(app/validation/cronjobs.py). Each valid row is one robfig accepts; each invalid row one it refuses
(or one of our two rules on top: no zone prefix, a positive @every)."""
from __future__ import annotations

import pytest

from app.errors import InvalidInput
from app.validation import check_cronjob
from app.validation.cronjobs import MAX_CRONJOB_NAME
from app.validation.schedule import ScheduleError, check_zone, go_duration, parse_schedule

VALID = [
    "* * * * *",
    "? ? ? ? ?",
    "0 0 1 1 0",
    "59 23 31 12 6",
    "*/15 * * * *",
    "0 */2 * * *",
    "5/10 * * * *",  # n/step: n to the field's maximum
    "0-59/59 0-23 1-31 1-12 0-6",
    "1,2,3 4-5 6 7 1-5",
    "0 3 * * MON-FRI",
    "0 3 * * mon-fri",
    "0 3 * JAN,jul,Dec sun",
    "0 0 * * SAT",
    "1,,2 * * * *",  # empty items of a list are skipped
    ", * * * *",  # ... even all of them
    "+5 * * * *",  # Go's Atoi takes a sign
    "05 007 * * *",  # and leading zeros
    "*/+1 * * * *",
    "*-7 * * * *",  # a star ignores what follows its hyphen
    "*/99999999999999 * * * *",  # a step past the maximum: the start alone
    "  0   0  * * *  ",  # any white space between and around fields
    "0\t0\n*\u3000*\u00a0*",  # Go's white space, Unicode's too
    "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
    "@every 1h30m", "@every 90s", "@every 1.5h", "@every 500ms", "@every 1h0m0.5s", "@every 2µs", "@every 2μs",
    "@every +1m", "@every .5s", "@every 1.s",
]

INVALID = [
    "",
    "* * * *",  # four fields
    "* * * * * *",  # six: ParseStandard has no seconds
    "60 * * * *",
    "* 24 * * *",
    "* * 0 * *",
    "* * 32 * *",
    "* * * 0 *",
    "* * * 13 *",
    "* * * * 7",  # robfig's weekday ends at 6
    "5-1 * * * *",  # start after end
    "*/0 * * * *",
    "1-2-3 * * * *",
    "*/2/3 * * * *",
    "-1 * * * *",
    "*/-1 * * * *",
    "a * * * *",
    "MON * * * *",  # names only where they belong
    "* * * MONDAY *",
    "* * * * JANUARY",
    "1.5 * * * *",
    "\u0661 * * * *",  # a digit, but not an ASCII one: Go's Atoi refuses it
    "99999999999999999999 * * * *",  # beyond Go's int
    "0\x1c0 * * *",  # white space to Python, not to Go: four fields
    "@every", "@every ", "@every 0s", "@every 0", "@every -1m", "@every 1", "@every 1d", "@every  1h", "@every 1h ",
    "@every .s", "@every 1.5.5s",
    "@daily ", "@Daily", "@reboot", "@",
    " @daily",  # not a descriptor: one field
    "CRON_TZ=UTC * * * * *",  # our rule: the zone goes in timeZone
    "TZ=Europe/Paris @daily",
]


@pytest.mark.parametrize("schedule", VALID)
def test_a_schedule_robfig_accepts_is_accepted(schedule: str) -> None:
    parse_schedule(schedule)


@pytest.mark.parametrize("schedule", INVALID)
def test_a_schedule_robfig_refuses_is_refused(schedule: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(schedule)


def test_a_refusal_says_which_field_and_why() -> None:
    with pytest.raises(ScheduleError, match=r"hour '24': 24 is above the maximum 23"):
        parse_schedule("0 24 * * *")
    with pytest.raises(ScheduleError, match="expected exactly 5 fields"):
        parse_schedule("* * *")
    with pytest.raises(ScheduleError, match="give the zone in timeZone"):
        parse_schedule("CRON_TZ=UTC @daily")


@pytest.mark.parametrize(("text", "nanoseconds"), [
    ("0", 0), ("1ns", 1), ("1us", 1000), ("1ms", 10**6), ("1s", 10**9), ("1m", 60 * 10**9), ("1h", 3600 * 10**9),
    ("1h30m", 5400 * 10**9), ("1.5h", 5400 * 10**9), ("-2s", -2 * 10**9), ("+0.25s", 25 * 10**7),
    ("2562047h47m16.854775807s", 2**63 - 1),
])
def test_go_durations(text: str, nanoseconds: int) -> None:
    assert go_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "-", "s", "1", "1x", "1h-1m", "2562047h47m16.854775808s", "1e3s"])
def test_what_go_refuses_as_a_duration(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  (Go's refusals have no finer type either)
        go_duration(text)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Asia/Tokyo"])
def test_an_iana_zone_is_accepted(zone: str) -> None:
    check_zone(zone)


@pytest.mark.parametrize("zone", ["Mars/Base", "Europe/Paris ", "Europe/ Paris", "../etc/passwd", "/etc/localtime",
                                  "Local", "europe paris", "Europe\\Paris"])
def test_anything_else_is_no_zone(zone: str) -> None:
    with pytest.raises(ScheduleError):
        check_zone(zone)


CRON = {"name": "nightly", "user": "ada", "entrypoint": "python -V", "schedule": "0 3 * * *",
        "clusterSelector": {"ray.io/cluster": "shared"}}


@pytest.mark.parametrize(("change", "message"), [
    ({"schedule": ""}, "Field 'schedule' is not a cron schedule the KubeRay operator accepts: it is empty."),
    ({"schedule": "0 3 * * 8"}, "Field 'schedule' is not a cron schedule the KubeRay operator accepts: "
                                "day of week '8': 8 is above the maximum 6."),
    ({"timeZone": "Mars/Base"}, "Field 'timeZone' is not a time zone: 'Mars/Base' is not an IANA time zone name "
                                "such as Europe/Paris."),
    ({"name": "n" * (MAX_CRONJOB_NAME + 1)}, "Field 'name' is 42 characters long: a cron job name is at most 41, "
                                              "as the operator names its RayJobs '<name>-xxxxx' and a RayJob name "
                                              "is at most 47."),
    ({"ttlSecondsAfterFinished": -1}, "Field 'ttlSecondsAfterFinished' must not be negative."),
    ({"ttlSecondsAfterFinished": 60}, "Field 'ttlSecondsAfterFinished' needs 'shutdownAfterJobFinishes': the "
                                      "KubeRay operator refuses a TTL for a job whose cluster is not shut down."),
    ({"clusterSelector": {"team": "a"}}, "Field 'clusterSelector' must name the cluster under the key ray.io/cluster: "
                                         "the KubeRay operator picks the cluster by that label alone."),
    ({"runtimeEnv": "[1, 2]"}, "runtimeEnv must be a YAML mapping such as 'key: value'."),
    ({"user": ""}, "User who create the job is empty. Please specify a valid value."),  # a job's rules first
    ({"clusterSelector": {}}, "A ClusterSpec object is required. Please specify one."),
])
def test_a_cron_job_is_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_cronjob({**CRON, **change}, "ns")
    assert str(refused.value) == message


@pytest.mark.parametrize("change", [
    {}, {"timeZone": ""}, {"timeZone": "Europe/Paris"}, {"name": "n" * MAX_CRONJOB_NAME},
    {"ttlSecondsAfterFinished": 60, "shutdownAfterJobFinishes": True}, {"runtimeEnv": "pip: [requests]"},
    {"schedule": "@every 1h"},
])
def test_a_valid_cron_job_passes(change: dict[str, object]) -> None:
    check_cronjob({**CRON, **change}, "ns")
