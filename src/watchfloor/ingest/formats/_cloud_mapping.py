"""How cloud control-plane and identity sources fill the OCSF core: CloudTrail, Entra ID, Okta.

Candidates list every shape a source arrives in (Graph API, Azure Monitor export, Log Analytics row;
Okta API or its Sentinel-flattened copy): the first present field wins, so one declaration serves all.
"""

from __future__ import annotations

from collections.abc import Mapping

from watchfloor.schema import EventClass, SourceMapping

__all__ = ["AZURE_AUDIT_MAPPING", "AZURE_SIGNIN_MAPPING", "CLOUDTRAIL_MAPPING", "OKTA_MAPPING"]

_API_OTHER = EventClass(6003, "API Activity", 99, "Other")
_LOGON = EventClass(3002, "Authentication", 1, "Logon")
_LOGOFF = EventClass(3002, "Authentication", 2, "Logoff")
_ENTITY_OTHER = EventClass(3004, "Entity Management", 99, "Other")
_BASE = EventClass(0, "Base Event")


def _account(activity_id: int, name: str) -> EventClass:
    return EventClass(3001, "Account Change", activity_id, name)


def _access(activity_id: int, name: str) -> EventClass:
    return EventClass(3005, "User Access Management", activity_id, name)


def _group(activity_id: int, name: str) -> EventClass:
    return EventClass(3006, "Group Management", activity_id, name)


_SUCCESS_WORDS: Mapping[str, str] = {
    "success": "Success",
    "succeeded": "Success",
    "failure": "Failure",
    "failed": "Failure",
}

_CLOUDTRAIL_CLASSES: Mapping[str, EventClass] = {
    "ConsoleLogin": _LOGON,
    "GetSessionToken": EventClass(3002, "Authentication", 3, "Authentication Ticket"),
    "GetFederationToken": EventClass(3002, "Authentication", 3, "Authentication Ticket"),
    "CreateUser": _account(1, "Create"),
    "DeleteUser": _account(6, "Delete"),
    "CreateLoginProfile": _account(3, "Password Change"),
    "UpdateLoginProfile": _account(3, "Password Change"),
    "ChangePassword": _account(3, "Password Change"),
    "CreateAccessKey": _account(99, "Other"),
    "DeleteAccessKey": _account(99, "Other"),
    "UpdateAccessKey": _account(99, "Other"),
    "AttachUserPolicy": _account(7, "Attach Policy"),
    "PutUserPolicy": _account(7, "Attach Policy"),
    "DetachUserPolicy": _account(8, "Detach Policy"),
    "DeleteUserPolicy": _account(8, "Detach Policy"),
    "EnableMFADevice": _account(10, "MFA Factor Enable"),
    "DeactivateMFADevice": _account(11, "MFA Factor Disable"),
    "DeleteVirtualMFADevice": _account(11, "MFA Factor Disable"),
    "AttachRolePolicy": _access(1, "Assign Privileges"),
    "PutRolePolicy": _access(1, "Assign Privileges"),
    "DetachRolePolicy": _access(2, "Revoke Privileges"),
    "DeleteRolePolicy": _access(2, "Revoke Privileges"),
    "AttachGroupPolicy": _group(1, "Assign Privileges"),
    "PutGroupPolicy": _group(1, "Assign Privileges"),
    "DetachGroupPolicy": _group(2, "Revoke Privileges"),
    "AddUserToGroup": _group(3, "Add User"),
    "RemoveUserFromGroup": _group(4, "Remove User"),
    "CreateGroup": _group(6, "Create"),
    "DeleteGroup": _group(5, "Delete"),
}

CLOUDTRAIL_MAPPING = SourceMapping(
    source="aws_cloudtrail",
    product="AWS CloudTrail",
    time=("eventTime", "@timestamp"),
    user=(
        "userIdentity.userName",
        "userIdentity.sessionContext.sessionIssuer.userName",
        "userIdentity.principalId",
        "userIdentity.invokedBy",
        "userIdentity.arn",
    ),
    src_ip=("sourceIPAddress",),
    activity=("eventName",),
    # Any errorCode is a failed call; ConsoleLogin reports its outcome in responseElements instead.
    status=("errorCode", "responseElements.ConsoleLogin"),
    status_values=_SUCCESS_WORDS,
    status_other="Failure",
    status_missing="Success",
    class_key=("eventName",),
    classes=_CLOUDTRAIL_CLASSES,
    default_class=_API_OTHER,
    product_key=("eventSource",),
    products={"signin.amazonaws.com": "AWS Sign-In", "sts.amazonaws.com": "AWS STS"},
)

AZURE_SIGNIN_MAPPING = SourceMapping(
    source="azure_signin",
    product="Microsoft Entra ID",
    time=("createdDateTime", "properties.createdDateTime", "TimeGenerated", "time"),
    user=("userPrincipalName", "properties.userPrincipalName", "UserPrincipalName", "identity"),
    src_ip=("ipAddress", "properties.ipAddress", "IPAddress", "callerIpAddress"),
    hostname=("deviceDetail.displayName", "properties.deviceDetail.displayName", "DeviceDetail.displayName"),
    activity=("appDisplayName", "properties.appDisplayName", "AppDisplayName"),
    # errorCode 0 is a successful sign-in; every other code names why it failed.
    status=(
        "status.errorCode",
        "properties.status.errorCode",
        "Status.errorCode",
        "ResultType",
        "resultType",
    ),
    status_values={"0": "Success"},
    status_other="Failure",
    default_class=_LOGON,
)

_AUDIT_CATEGORIES: Mapping[str, EventClass] = {
    "UserManagement": _account(99, "Other"),
    "GroupManagement": _group(99, "Other"),
    "RoleManagement": _access(99, "Other"),
}

AZURE_AUDIT_MAPPING = SourceMapping(
    source="azure_audit",
    product="Microsoft Entra ID",
    time=("activityDateTime", "properties.activityDateTime", "ActivityDateTime", "TimeGenerated", "time"),
    user=(
        "initiatedBy.user.userPrincipalName",
        "properties.initiatedBy.user.userPrincipalName",
        "InitiatedBy.user.userPrincipalName",
        "InitiatingUserOrApp",
        "InitiatingUser",
        "initiatedBy.app.displayName",
        "properties.initiatedBy.app.displayName",
        "InitiatedBy.app.displayName",
        "identity",
    ),
    src_ip=(
        "initiatedBy.user.ipAddress",
        "properties.initiatedBy.user.ipAddress",
        "InitiatedBy.user.ipAddress",
        "callerIpAddress",
    ),
    activity=(
        "activityDisplayName",
        "properties.activityDisplayName",
        "ActivityDisplayName",
        "OperationName",
    ),
    status=("result", "properties.result", "Result", "resultType"),
    status_values=_SUCCESS_WORDS,
    class_key=("properties.category", "category", "Category"),
    classes=_AUDIT_CATEGORIES,
    default_class=_ENTITY_OTHER,
)

_OKTA_CLASSES: Mapping[str, EventClass] = {
    "user.session.start": _LOGON,
    "user.session.end": _LOGOFF,
    "user.authentication.sso": _LOGON,
    "user.authentication.auth_via_mfa": _LOGON,
    "user.authentication.verify": _LOGON,
    "user.authentication.auth_via_radius": _LOGON,
    "user.authentication.auth_via_social": _LOGON,
    "user.lifecycle.create": _account(1, "Create"),
    "user.lifecycle.activate": _account(2, "Enable"),
    "user.lifecycle.reactivate": _account(2, "Enable"),
    "user.lifecycle.unsuspend": _account(2, "Enable"),
    "user.lifecycle.deactivate": _account(5, "Disable"),
    "user.lifecycle.suspend": _account(5, "Disable"),
    "user.lifecycle.delete.initiated": _account(6, "Delete"),
    "user.account.update_password": _account(3, "Password Change"),
    "user.account.reset_password": _account(4, "Password Reset"),
    "user.account.lock": _account(9, "Lock"),
    "user.account.unlock": _account(12, "Unlock"),
    "user.mfa.factor.activate": _account(10, "MFA Factor Enable"),
    "user.mfa.factor.deactivate": _account(11, "MFA Factor Disable"),
    "user.mfa.factor.reset_all": _account(11, "MFA Factor Disable"),
    "user.account.privilege.grant": _access(1, "Assign Privileges"),
    "user.account.privilege.revoke": _access(2, "Revoke Privileges"),
    "application.user_membership.add": _access(1, "Assign Privileges"),
    "application.user_membership.remove": _access(2, "Revoke Privileges"),
    "group.user_membership.add": _group(3, "Add User"),
    "group.user_membership.remove": _group(4, "Remove User"),
    "group.privilege.grant": _group(1, "Assign Privileges"),
    "group.privilege.revoke": _group(2, "Revoke Privileges"),
}

OKTA_MAPPING = SourceMapping(
    source="okta",
    product="Okta",
    time=("published", "published_t", "TimeGenerated"),
    user=("actor.alternateId", "actor_alternateId_s"),
    src_ip=("client.ipAddress", "client_ipAddress_s"),
    activity=("eventType", "eventType_s"),
    status=("outcome.result", "outcome_result_s"),
    status_values={"success": "Success", "failure": "Failure", "deny": "Failure"},
    severity=("severity", "severity_s"),
    severity_ids={"debug": 1, "info": 1, "warn": 3, "error": 4},
    class_key=("eventType", "eventType_s"),
    classes=_OKTA_CLASSES,
    default_class=_BASE,
)
