"""The trust-policy decision matrix, end to end with boto3.

{same account, cross account} x what the role's trust policy says about the
caller x what the caller's identity policy says x a permissions boundary or
none, for IAM users and for role sessions. `expected` derives every cell from
AWS's documentation (the same derivation as
crates/latchkey-policy/tests/trust_matrix.rs):

- an explicit Deny anywhere refuses [UG reference_policies_evaluation-logic];
- a role trust policy must allow the caller itself: "IAM role trust policies
  and AWS KMS key policies are exceptions to this logic, because they must
  explicitly allow access for principals" [same page, resource-based policies];
- same account, the caller named directly (user or session ARN): the trust
  grants on its own, and "within an account, permissions boundaries do not
  reduce the permissions granted by resource-based policies"
  [UG access_policies_boundaries];
- same account, the role behind the session named: the session's boundary
  still limits it [UG reference_policies_evaluation-logic];
- same account, the account named: the identity policy (within its boundary)
  must allow too [UG id_roles_terms-and-concepts];
- cross account: trust AND the identity policy (within its boundary)
  [UG reference_policies_evaluation-logic-cross-account].
"""

import itertools
import json

import pytest
from botocore.exceptions import ClientError

IDENTITIES = ("allows", "silent", "denies")
TRUSTS = ("names-user", "names-session", "names-role", "names-account",
          "names-someone-else", "false-condition", "denies-caller", "denies-account")
SESSION_NAME = "s1"

IDENTITY_DOCS = {
    "allows": {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
    "silent": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
    "denies": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
               {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}],
}
BOUNDARY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def expected(same_account, trust, identity, boundary):
    if identity == "denies" or trust in ("denies-caller", "denies-account"):
        return False
    if trust in ("names-someone-else", "false-condition"):
        return False
    own_side = identity == "allows" and not boundary
    if same_account and trust in ("names-user", "names-session"):
        return True
    if same_account and trust == "names-role":
        return not boundary
    return own_side


def doc(statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def stmt(effect, principals, condition=None):
    s = {"Effect": effect, "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"}
    if condition:
        s["Condition"] = condition
    return s


@pytest.fixture(scope="module")
def world(shared_server):
    server = shared_server
    iam = server.client("iam")
    a = server.client("sts").get_caller_identity()["Account"]
    b = server.client("organizations").create_account(
        Email="matrix@example.com", AccountName="matrix")["CreateAccountStatus"]["AccountId"]

    iam.create_user(UserName="admin")
    iam.attach_user_policy(UserName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    k = iam.create_access_key(UserName="admin")["AccessKey"]
    admin = lambda svc, **kw: server.client(svc, k["AccessKeyId"], k["SecretAccessKey"], **kw)  # noqa: E731
    iam.create_user(UserName="bob")
    boundary_arn = iam.create_policy(PolicyName="s3-only", PolicyDocument=json.dumps(BOUNDARY))["Policy"]["Arn"]

    users, sessions = {}, {}
    for identity, bounded in itertools.product(IDENTITIES, (False, True)):
        name = f"u-{identity}-{int(bounded)}"
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(IDENTITY_DOCS[identity]))
        if bounded:
            iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=boundary_arn)
        uk = iam.create_access_key(UserName=name)["AccessKey"]
        users[(identity, bounded)] = (f"arn:aws:iam::{a}:user/{name}",
                                      server.client("sts", uk["AccessKeyId"], uk["SecretAccessKey"]))

        role = f"src-{identity}-{int(bounded)}"
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=doc([stmt("Allow", f"arn:aws:iam::{a}:user/admin")]))
        iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=doc(IDENTITY_DOCS[identity]))
        if bounded:
            iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=boundary_arn)
        creds = admin("sts").assume_role(RoleArn=f"arn:aws:iam::{a}:role/{role}",
                                         RoleSessionName=SESSION_NAME)["Credentials"]
        sessions[(identity, bounded)] = (
            f"arn:aws:sts::{a}:assumed-role/{role}/{SESSION_NAME}",
            f"arn:aws:iam::{a}:role/{role}",
            server.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]),
        )

    into_b = admin("sts").assume_role(RoleArn=f"arn:aws:iam::{b}:role/OrganizationAccountAccessRole",
                                      RoleSessionName="admin")["Credentials"]
    iam_b = server.client("iam", into_b["AccessKeyId"], into_b["SecretAccessKey"], into_b["SessionToken"])

    user_arns = [arn for arn, _ in users.values()]
    session_arns = [s[0] for s in sessions.values()]
    role_arns = [s[1] for s in sessions.values()]
    everyone = user_arns + session_arns
    account_root = f"arn:aws:iam::{a}:root"
    trust_docs = {
        "names-user": [stmt("Allow", user_arns)],
        "names-session": [stmt("Allow", session_arns)],
        "names-role": [stmt("Allow", role_arns)],
        "names-account": [stmt("Allow", account_root)],
        "names-someone-else": [stmt("Allow", f"arn:aws:iam::{a}:user/bob")],
        "false-condition": [stmt("Allow", everyone, {"StringEquals": {"sts:ExternalId": "expected"}})],
        "denies-caller": [stmt("Allow", account_root), stmt("Deny", everyone)],
        "denies-account": [stmt("Allow", everyone), stmt("Deny", account_root)],
    }
    targets = {}
    for same, client, account in ((True, iam, a), (False, iam_b, b)):
        for trust, statements in trust_docs.items():
            name = f"target-{trust}"
            client.create_role(RoleName=name, AssumeRolePolicyDocument=doc(statements))
            targets[(same, trust)] = f"arn:aws:iam::{account}:role/{name}"
    return users, sessions, targets


def callers_for(trust, users, sessions):
    """A trust naming users is asked by the users, one naming sessions or
    their roles by the sessions, the rest by both."""
    out = []
    if trust not in ("names-session", "names-role"):
        out += [("user", key, client) for key, (_, client) in users.items()]
    if trust != "names-user":
        out += [("session", key, s[2]) for key, s in sessions.items()]
    return out


def test_every_cell_answers_as_aws_documents(world):
    users, sessions, targets = world
    wrong, count = [], 0
    for (same, trust), role_arn in sorted(targets.items()):
        for kind, (identity, bounded), client in callers_for(trust, users, sessions):
            count += 1
            want = expected(same, trust, identity, bounded)
            try:
                client.assume_role(RoleArn=role_arn, RoleSessionName="matrix")
                got = True
            except ClientError as e:
                assert e.response["Error"]["Code"] == "AccessDenied", e.response["Error"]
                got = False
            if got != want:
                wrong.append(f"{'same' if same else 'cross'} / {trust} / identity {identity} / "
                             f"boundary {bounded} / {kind}: expected {'allowed' if want else 'denied'}")
    assert count == 2 * (6 + 6 + 6 + 5 * 12)
    assert not wrong, f"{len(wrong)} of {count} cells wrong:\n" + "\n".join(wrong)


def test_the_reported_bypass_is_closed(server):
    """The report: a user allowed sts:AssumeRole on * could assume roles whose
    trust named another user, named it only under an ExternalId or MFA
    condition, or named only a service."""
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    for name in ("u1", "u2"):
        iam.create_user(UserName=name)
    iam.put_user_policy(UserName="u1", PolicyName="assume-anything",
                        PolicyDocument=doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    k = iam.create_access_key(UserName="u1")["AccessKey"]
    u1 = server.client("sts", k["AccessKeyId"], k["SecretAccessKey"])
    me = f"arn:aws:iam::{acct}:user/u1"
    trusts = {
        "names-u2": [stmt("Allow", f"arn:aws:iam::{acct}:user/u2")],
        "external-id": [stmt("Allow", me, {"StringEquals": {"sts:ExternalId": "secret-id"}})],
        "mfa": [stmt("Allow", me, {"Bool": {"aws:MultiFactorAuthPresent": "true"}})],
        "ec2-only": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    for name, statements in trusts.items():
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(statements))["Role"]["Arn"]
        with pytest.raises(ClientError) as e:
            u1.assume_role(RoleArn=arn, RoleSessionName="attempt")
        assert e.value.response["Error"]["Code"] == "AccessDenied", name
        assert e.value.response["Error"]["Message"].startswith(
            f"User: {me} is not authorized to perform: sts:AssumeRole on resource: {arn}"), name
    # With the ExternalId the trust asks for, the same call succeeds.
    u1.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/external-id", RoleSessionName="ok", ExternalId="secret-id")


def test_a_rewritten_trust_policy_decides_the_next_call(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    for name in ("carol", "dave"):
        iam.create_user(UserName=name)
    iam.put_user_policy(UserName="carol", PolicyName="p",
                        PolicyDocument=doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    k = iam.create_access_key(UserName="carol")["AccessKey"]
    carol = server.client("sts", k["AccessKeyId"], k["SecretAccessKey"])
    arn = iam.create_role(RoleName="flip", AssumeRolePolicyDocument=doc(
        [stmt("Allow", f"arn:aws:iam::{acct}:user/carol")]))["Role"]["Arn"]
    carol.assume_role(RoleArn=arn, RoleSessionName="one")
    iam.update_assume_role_policy(RoleName="flip", PolicyDocument=doc([stmt("Allow", f"arn:aws:iam::{acct}:user/dave")]))
    with pytest.raises(ClientError) as e:
        carol.assume_role(RoleArn=arn, RoleSessionName="two")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    iam.update_assume_role_policy(RoleName="flip", PolicyDocument=doc([stmt("Allow", f"arn:aws:iam::{acct}:root")]))
    carol.assume_role(RoleArn=arn, RoleSessionName="three")
