"""Cloud and identity formats: CloudTrail, Entra ID, Okta and Log Analytics rows, read into the OCSF core."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import orjson

from tests.conftest import corpus
from watchfloor.ingest import ingest_paths
from watchfloor.store import DuckDBEventStore

GOLDEN_SAML = ("security-datasets", "compound", "GoldenSAMLADFSMailAccess")


def _store(tmp_path: Path) -> DuckDBEventStore:
    return DuckDBEventStore(tmp_path / "events")


def _quarantined(folder: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_bytes().splitlines()
    ]


def test_cloudtrail_logstash_lines_from_otrf(tmp_path: Path) -> None:
    archive = corpus("security-datasets", "atomic", "aws", "collection", "ec2_proxy_s3_exfiltration.zip")
    store = _store(tmp_path)
    summary = ingest_paths([archive], store, tmp_path / "q")
    assert [(r.format, r.events, r.quarantined) for r in summary.files] == [("cloudtrail", 103, 0)]
    assert store.query("SELECT count(*) AS n FROM events").to_pylist()[0]["n"] == 103
    users = store.query(
        "SELECT ocsf.actor_user_name AS u, count(*) AS n FROM aws_cloudtrail GROUP BY u ORDER BY n DESC"
    ).to_pylist()
    assert users[0] == {"u": "pedro", "n": 87}
    assert {"u": "MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0", "n": 11} in users
    row = store.query(
        """SELECT "@timestamp", "@version", "userIdentity.arn",
        "userIdentity.sessionContext.attributes.mfaAuthenticated" AS mfa,
        "requestParameters.bucketName" AS bucket, ocsf.* FROM aws_cloudtrail
        WHERE eventName = 'GetObject' ORDER BY "@timestamp" LIMIT 1"""
    ).to_pylist()[0]
    assert row["@version"] == "1"
    assert row["bucket"]
    # the exfiltration: the EC2 instance's role session reads the bucket, without MFA
    assert row["mfa"] == "false"
    assert row["userIdentity.arn"].startswith("arn:aws:sts::123456789123:assumed-role/MordorNginxStack-")
    assert row["actor_user_name"] == "MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0"
    assert row["time"] == dt.datetime.fromisoformat(row["@timestamp"].replace("Z", "+00:00"))
    assert (row["class_uid"], row["class_name"], row["activity_name"]) == (6003, "API Activity", "GetObject")
    assert row["status"] == "Success"  # no errorCode
    assert row["metadata_product_name"] == "AWS CloudTrail"
    ips = store.query(
        "SELECT DISTINCT ocsf.src_endpoint_ip AS ip FROM aws_cloudtrail ORDER BY ip"
    ).to_pylist()
    assert {"ip": "1.2.3.4"} in ips


def _trail_record(name: str, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE1",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "userName": "alice",
        },
        "eventTime": "2024-03-01T12:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"userName": "backdoor"},
        "responseElements": None,
        "requestID": "req-1",
        "eventID": f"id-{name}",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    }
    record.update(extra)
    return record


def test_cloudtrail_records_file_gzipped_as_aws_writes_it(tmp_path: Path) -> None:
    records = [
        _trail_record("CreateUser"),
        _trail_record("AttachUserPolicy", errorCode="AccessDenied", errorMessage="not authorized"),
        _trail_record(
            "ConsoleLogin",
            eventSource="signin.amazonaws.com",
            userIdentity={
                "type": "Root",
                "principalId": "111122223333",
                "arn": "arn:aws:iam::111122223333:root",
            },
            responseElements={"ConsoleLogin": "Failure"},
            requestParameters=None,
        ),
    ]
    path = tmp_path / "logs" / "111122223333_CloudTrail_us-east-1_20240301T1200Z_abc.json.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    store = _store(tmp_path)
    summary = ingest_paths([path.parent], store, tmp_path / "q")
    assert [(r.format, r.events) for r in summary.files] == [("cloudtrail", 3)]
    assert summary.files[0].path.endswith("_abc.json")
    rows = store.query(
        """SELECT eventName, errorCode, "requestParameters.userName" AS target, ocsf.class_uid AS c,
        ocsf.activity_id AS a, ocsf.status AS s, ocsf.actor_user_name AS u, ocsf.metadata_product_name AS p
        FROM aws_cloudtrail ORDER BY eventName"""
    ).to_pylist()
    assert [(r["eventName"], r["c"], r["a"], r["s"]) for r in rows] == [
        ("AttachUserPolicy", 3001, 7, "Failure"),
        ("ConsoleLogin", 3002, 1, "Failure"),
        ("CreateUser", 3001, 1, "Success"),
    ]
    assert rows[2]["target"] == "backdoor"
    assert rows[1]["u"] == "111122223333"  # root: the account id is the principal
    assert rows[1]["p"] == "AWS Sign-In"


def test_azure_audit_rows_from_log_analytics(tmp_path: Path) -> None:
    archive = corpus(*GOLDEN_SAML, "AADAuditEvents.Zip")
    store = _store(tmp_path)
    summary = ingest_paths([archive], store, tmp_path / "q")
    assert [(r.format, r.events, r.quarantined) for r in summary.files] == [("entra", 4, 0)]
    assert dict(summary.by_source) == {"azure_audit": 4}
    rows = store.query(
        """SELECT OperationName, Type, "InitiatedBy.user.userPrincipalName" AS upn, ocsf.* FROM azure_audit
        ORDER BY ocsf.time"""
    ).to_pylist()
    assert {r["Type"] for r in rows} == {"AuditLogs", "Application", "ServicePrincipal"}
    assert all(r["upn"] == "pgustavo@simulandlabs.com" for r in rows)
    assert all(r["actor_user_name"] == "pgustavo@simulandlabs.com" for r in rows)
    assert all(r["status"] == "Success" for r in rows)
    assert all((r["class_uid"], r["category_uid"]) == (3004, 3) for r in rows)
    assert rows[0]["activity_name"] == "Update application"
    assert rows[0]["time"] == dt.datetime(2021, 8, 2, 13, 25, 12, 246000, tzinfo=dt.UTC)


def _graph_signin(upn: str, code: int, reason: str | None, ip: str) -> dict[str, Any]:
    return {
        "id": f"66ea54eb-6301-4ee5-be62-ff5a759b{code:04d}",
        "createdDateTime": "2024-04-02T08:15:31Z",
        "userDisplayName": upn.split("@")[0],
        "userPrincipalName": upn,
        "userId": "d7cc485d-2c1b-422c-98fd-5ce52859a4a3",
        "appId": "de8bc8b5-d9f9-48b1-a8ad-b748da725064",
        "appDisplayName": "Graph Explorer",
        "ipAddress": ip,
        "clientAppUsed": "Browser",
        "correlationId": "65d2a5d9-a7b4-4b0b-a1f9-1c8f2e6d3b7a",
        "conditionalAccessStatus": "notApplied",
        "isInteractive": True,
        "riskDetail": "none",
        "riskLevelAggregated": "none",
        "riskState": "none",
        "status": {"errorCode": code, "failureReason": reason, "additionalDetails": None},
        "deviceDetail": {
            "deviceId": "",
            "displayName": "LAPTOP-7",
            "operatingSystem": "Windows 10",
            "browser": "Edge 122.0.0",
        },
        "location": {
            "city": "Redmond",
            "state": "Washington",
            "countryOrRegion": "US",
            "geoCoordinates": {"latitude": 47.67, "longitude": -122.12},
        },
        "appliedConditionalAccessPolicies": [],
    }


def test_entra_signins_in_graph_monitor_and_log_analytics_shapes(tmp_path: Path) -> None:
    folder = tmp_path / "entra"
    folder.mkdir()
    graph = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns",
        "value": [
            _graph_signin("adele@contoso.com", 0, None, "198.51.100.7"),
            _graph_signin("adele@contoso.com", 50126, "Invalid username or password.", "203.0.113.66"),
        ],
    }
    (folder / "signins-graph.json").write_text(json.dumps(graph, indent=2))
    diag = {
        "records": [
            {
                "time": "2024-04-02T09:00:00.1234567Z",
                "resourceId": "/tenants/72f988bf/providers/Microsoft.aadiam",
                "operationName": "Sign-in activity",
                "operationVersion": "1.0",
                "category": "SignInLogs",
                "tenantId": "72f988bf",
                "resultType": "50053",
                "resultDescription": "Account is locked",
                "callerIpAddress": "203.0.113.66",
                "identity": "Megan Bowen",
                "Level": 4,
                "properties": {
                    **_graph_signin("megan@contoso.com", 50053, "Account is locked", "203.0.113.66"),
                    "createdDateTime": "2024-04-02T09:00:00.1234567+00:00",
                },
            }
        ]
    }
    (folder / "PT1H.json").write_text(json.dumps(diag))
    la_rows = [
        {
            "TenantId": "72f988bf",
            "SourceSystem": "Azure AD",
            "TimeGenerated": "2024-04-02T10:00:00Z",
            "OperationName": "Sign-in activity",
            "Category": "SignInLogs",
            "ResultType": "0",
            "ResultDescription": "",
            "Identity": "Alex Wilber",
            "UserPrincipalName": "alexw@contoso.com",
            "AppDisplayName": "Microsoft Teams",
            "IPAddress": "198.51.100.9",
            "Status": json.dumps({"errorCode": 0}),
            "DeviceDetail": json.dumps({"displayName": "ALEX-PC", "operatingSystem": "Windows 11"}),
            "ConditionalAccessStatus": "success",
            "Type": "SigninLogs",
        }
    ]
    (folder / "SigninLogs.json").write_text("\n".join(json.dumps(r) for r in la_rows) + "\n")
    store = _store(tmp_path)
    summary = ingest_paths([folder], store, tmp_path / "q")
    assert sorted((Path(r.path).name, r.format, r.events) for r in summary.files) == [
        ("PT1H.json", "entra", 1),
        ("SigninLogs.json", "entra", 1),
        ("signins-graph.json", "entra", 2),
    ]
    rows = store.query(
        "SELECT ocsf.actor_user_name AS u, ocsf.src_endpoint_ip AS ip, ocsf.status AS s, "
        "ocsf.class_uid AS c, ocsf.activity_name AS a, ocsf.device_hostname AS h, ocsf.time AS t "
        "FROM azure_signin ORDER BY t, s DESC"
    ).to_pylist()
    assert [(r["u"], r["ip"], r["s"], r["c"]) for r in rows] == [
        ("adele@contoso.com", "198.51.100.7", "Success", 3002),
        ("adele@contoso.com", "203.0.113.66", "Failure", 3002),
        ("megan@contoso.com", "203.0.113.66", "Failure", 3002),
        ("alexw@contoso.com", "198.51.100.9", "Success", 3002),
    ]
    assert rows[0]["a"] == "Graph Explorer"
    assert rows[3]["h"] == "ALEX-PC"
    assert rows[2]["t"] == dt.datetime(2024, 4, 2, 9, 0, 0, 123456, tzinfo=dt.UTC)
    failed = store.query(
        """SELECT "status.failureReason" AS r FROM azure_signin WHERE "status.errorCode" = '50126' """
    ).to_pylist()
    assert failed == [{"r": "Invalid username or password."}]


def test_graph_directory_audits_and_bad_lines(tmp_path: Path) -> None:
    audits = [
        {
            "id": "Directory_7c1b6b1a",
            "category": "UserManagement",
            "correlationId": "7c1b6b1a-1111-2222-3333-444455556666",
            "result": "success",
            "resultReason": "",
            "activityDisplayName": "Add user",
            "activityDateTime": "2024-04-03T11:22:33.456Z",
            "loggedByService": "Core Directory",
            "operationType": "Add",
            "initiatedBy": {
                "user": {
                    "id": "a1",
                    "displayName": None,
                    "userPrincipalName": "admin@contoso.com",
                    "ipAddress": "198.51.100.50",
                },
                "app": None,
            },
            "targetResources": [{"id": "b2", "type": "User", "userPrincipalName": "eve@contoso.com"}],
            "additionalDetails": [],
        },
        {
            "id": "Directory_8d2c",
            "category": "RoleManagement",
            "result": "failure",
            "activityDisplayName": "Add member to role",
            "activityDateTime": "2024-04-03T11:25:00Z",
            "loggedByService": "Core Directory",
            "initiatedBy": {"app": {"displayName": "Provisioning Agent", "servicePrincipalId": "c3"}},
            "targetResources": [],
        },
    ]
    path = tmp_path / "audits.jsonl"
    path.write_text(
        json.dumps(audits[0]) + "\n" + '{"id": "Directory_broken", \n' + json.dumps(audits[1]) + "\n"
    )
    store = _store(tmp_path)
    summary = ingest_paths([path], store, tmp_path / "q")
    assert [(r.format, r.events, r.quarantined) for r in summary.files] == [("entra", 2, 1)]
    rows = store.query(
        """SELECT "targetResources", ocsf.actor_user_name AS u, ocsf.src_endpoint_ip AS ip, ocsf.status AS s,
        ocsf.class_uid AS c, ocsf.activity_name AS a FROM azure_audit ORDER BY ocsf.time"""
    ).to_pylist()
    assert [(r["u"], r["ip"], r["s"], r["c"], r["a"]) for r in rows] == [
        ("admin@contoso.com", "198.51.100.50", "Success", 3001, "Add user"),
        ("Provisioning Agent", None, "Failure", 3005, "Add member to role"),
    ]
    assert json.loads(rows[0]["targetResources"])[0]["userPrincipalName"] == "eve@contoso.com"
    (bad,) = _quarantined(tmp_path / "q")
    assert (bad["position"], bad["format"]) == (2, "entra")


def _okta_event(
    event_type: str, result: str, user: str, ip: str, published: str, **extra: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "uuid": f"2c1f3b9e-{abs(hash((event_type, published))) % 10**8:08d}",
        "published": published,
        "eventType": event_type,
        "version": "0",
        "severity": "INFO" if result == "SUCCESS" else "WARN",
        "legacyEventType": "core.user_auth.login_success",
        "displayMessage": "User login to Okta",
        "actor": {"id": "00u1abcd", "type": "User", "alternateId": user, "displayName": user.split("@")[0]},
        "client": {
            "userAgent": {"rawUserAgent": "Mozilla/5.0", "os": "Mac OS X", "browser": "CHROME"},
            "zone": "null",
            "device": "Computer",
            "ipAddress": ip,
            "geographicalContext": {"city": "Austin", "state": "Texas", "country": "United States"},
        },
        "outcome": {"result": result, "reason": None if result == "SUCCESS" else "INVALID_CREDENTIALS"},
        "target": [{"id": "0oa1", "type": "AppInstance", "alternateId": "Okta Admin Console"}],
        "transaction": {"type": "WEB", "id": "Wxyz", "detail": {}},
        "debugContext": {"debugData": {"requestUri": "/api/v1/authn"}},
        "authenticationContext": {"authenticationStep": 0, "externalSessionId": "102abc"},
        "securityContext": {"asNumber": 64496, "isProxy": False},
    }
    event.update(extra)
    return event


def test_okta_api_array_and_sentinel_rows(tmp_path: Path) -> None:
    folder = tmp_path / "okta"
    folder.mkdir()
    api = [
        _okta_event(
            "user.session.start", "SUCCESS", "dana@example.com", "198.51.100.21", "2024-05-06T07:08:09.123Z"
        ),
        _okta_event(
            "user.session.start", "FAILURE", "dana@example.com", "203.0.113.99", "2024-05-06T07:07:00.000Z"
        ),
        _okta_event(
            "user.mfa.factor.deactivate",
            "SUCCESS",
            "admin@example.com",
            "198.51.100.1",
            "2024-05-06T07:30:00.000Z",
            displayMessage="Reset factor for user",
        ),
        _okta_event(
            "policy.lifecycle.update",
            "SUCCESS",
            "admin@example.com",
            "198.51.100.1",
            "2024-05-06T07:40:00.000Z",
        ),
    ]
    (folder / "logs.json").write_text(json.dumps(api))
    sentinel = {
        "TenantId": "72f988bf",
        "SourceSystem": "RestAPI",
        "TimeGenerated": "2024-05-06T08:00:05Z",
        "uuid_g": "1b0f3f4e-0000-4000-8000-000000000001",
        "published_t": "2024-05-06T08:00:00.5Z",
        "eventType_s": "group.user_membership.add",
        "displayMessage_s": "Add user to group membership",
        "severity_s": "INFO",
        "actor_alternateId_s": "admin@example.com",
        "client_ipAddress_s": "198.51.100.1",
        "outcome_result_s": "SUCCESS",
        "target_s": json.dumps([{"type": "UserGroup", "displayName": "Domain Admins"}]),
        "Type": "Okta_CL",
    }
    (folder / "Okta_CL.json").write_text(json.dumps(sentinel) + "\n")
    store = _store(tmp_path)
    summary = ingest_paths([folder], store, tmp_path / "q")
    assert sorted((Path(r.path).name, r.format, r.events) for r in summary.files) == [
        ("Okta_CL.json", "okta", 1),
        ("logs.json", "okta", 4),
    ]
    rows = store.query(
        """SELECT "outcome.reason" AS why, ocsf.actor_user_name AS u, ocsf.src_endpoint_ip AS ip,
        ocsf.status AS s, ocsf.class_uid AS c, ocsf.activity_id AS aid, ocsf.activity_name AS a,
        ocsf.severity AS sev
        FROM okta ORDER BY ocsf.time"""
    ).to_pylist()
    assert [(r["u"], r["ip"], r["s"], r["c"], r["aid"], r["a"]) for r in rows] == [
        ("dana@example.com", "203.0.113.99", "Failure", 3002, 1, "user.session.start"),
        ("dana@example.com", "198.51.100.21", "Success", 3002, 1, "user.session.start"),
        ("admin@example.com", "198.51.100.1", "Success", 3001, 11, "user.mfa.factor.deactivate"),
        ("admin@example.com", "198.51.100.1", "Success", 0, 0, "policy.lifecycle.update"),
        ("admin@example.com", "198.51.100.1", "Success", 3006, 3, "group.user_membership.add"),
    ]
    assert rows[0]["why"] == "INVALID_CREDENTIALS"
    assert (rows[0]["sev"], rows[1]["sev"]) == ("Medium", "Informational")


def test_other_log_analytics_tables_get_their_own_sources(tmp_path: Path) -> None:
    folder = corpus(*GOLDEN_SAML)
    vm = corpus(
        "security-datasets",
        "compound",
        "Log4Shell",
        "vminsights_vmconnection_log4shell_cve2021_44228_jndi_reference.zip",
    )
    store = _store(tmp_path)
    summary = ingest_paths([folder, vm], store, tmp_path / "q")
    formats = {Path(r.path.split("!")[0]).name: (r.format, r.events, r.error) for r in summary.files}
    assert formats["Microsoft365DefenderEvents.Zip"] == ("sentinel", 9, None)
    assert formats["OfficeActivityEvents.Zip"] == ("sentinel", 1, None)
    assert formats["WindowsEvents.Zip"] == ("windows-json", 38, None)
    assert formats["AADAuditEvents.Zip"] == ("entra", 4, None)
    assert formats[vm.name] == ("sentinel", 5, None)
    assert dict(summary.by_source) == {
        "azure_audit": 4,
        "m365_defender": 9,
        "office_activity": 1,
        "vm_connection": 5,
        "windows": 38,
    }
    assert store.query("SELECT count(*) AS n FROM events").to_pylist()[0]["n"] == 57
    ldap = store.query(
        "SELECT ocsf.device_hostname AS h, ocsf.process_name AS p, ocsf.actor_user_name AS u, "
        "ocsf.activity_name AS a FROM m365_defender WHERE ActionType = 'LdapSearch' LIMIT 1"
    ).to_pylist()[0]
    assert ldap == {
        "h": "adfs01.simulandlabs.com",
        "p": "powershell.exe",
        "u": "wardog@simulandlabs.com",
        "a": "LdapSearch",
    }
    office = store.query(
        "SELECT Operation, ocsf.actor_user_name AS u, ocsf.src_endpoint_ip AS ip, ocsf.status AS s, "
        "ocsf.class_uid AS c FROM office_activity"
    ).to_pylist()
    assert office == [
        {
            "Operation": "MailItemsAccessed",
            "u": "pgustavo@simulandlabs.com",
            "ip": "1.2.3.4",
            "s": "Success",
            "c": 6003,
        }
    ]
    conns = store.query(
        "SELECT ocsf.dst_endpoint_port AS p, ocsf.process_file_path AS proc, ocsf.class_uid AS c "
        "FROM vm_connection ORDER BY p"
    ).to_pylist()
    assert {1389, 8888} <= {r["p"] for r in conns}
    assert {(r["proc"], r["c"]) for r in conns} == {("java", 4001), ("bash", 4001)}
