"""The policy simulator on the same rules as enforcement: the resource owner,
CallerArn's account, an unspecified resource, and role trust policies.
Each expectation is from the SimulateCustomPolicy / SimulatePrincipalPolicy
API reference and the IAM User Guide's evaluation-logic pages."""

import json

import pytest
from botocore.exceptions import ClientError

OTHER = "999999999999"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


GET_OBJECT = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"})


def decision(out):
    return [r["EvalDecision"] for r in out["EvaluationResults"]]


@pytest.fixture
def sim(server):
    iam = server.client("iam")
    acct = server.client("sts").get_caller_identity()["Account"]
    return iam, acct


def test_a_resource_in_another_account_needs_its_resource_policy(sim):
    """Cross-account evaluation: the identity policy alone does not allow
    [UG reference_policies_evaluation-logic-cross-account]; ResourceOwner
    names the owner of resources whose ARN names no account."""
    iam, acct = sim
    caller = f"arn:aws:iam::{acct}:user/alice"
    common = dict(PolicyInputList=[GET_OBJECT], ActionNames=["s3:GetObject"],
                  ResourceArns=["arn:aws:s3:::photos/cat.jpg"], CallerArn=caller)
    bucket_policy = doc({"Effect": "Allow", "Principal": {"AWS": caller}, "Action": "s3:GetObject",
                         "Resource": "arn:aws:s3:::photos/*"})
    silent_bucket_policy = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/bob"},
                                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"})
    # Same account (the default owner): the identity policy is enough.
    assert decision(iam.simulate_custom_policy(**common, ResourcePolicy=silent_bucket_policy)) == ["allowed"]
    # Another account owns the bucket: the bucket policy must allow too.
    for owner in (f"arn:aws:iam::{OTHER}:root", OTHER):
        assert decision(iam.simulate_custom_policy(**common, ResourcePolicy=silent_bucket_policy,
                                                   ResourceOwner=owner)) == ["implicitDeny"]
        assert decision(iam.simulate_custom_policy(**common, ResourcePolicy=bucket_policy,
                                                   ResourceOwner=owner)) == ["allowed"]
    # Without any resource policy, a resource of another account is refused.
    out = iam.simulate_custom_policy(PolicyInputList=[GET_OBJECT], ActionNames=["s3:GetObject"],
                                     ResourceArns=["arn:aws:s3:::photos/cat.jpg"], ResourceOwner=OTHER)
    assert decision(out) == ["implicitDeny"]
    # An ARN that names its account is owned by that account, whatever ResourceOwner says.
    role_in_other = f"arn:aws:iam::{OTHER}:role/x"
    out = iam.simulate_custom_policy(
        PolicyInputList=[doc({"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"})],
        ActionNames=["iam:GetRole"], ResourceArns=[role_in_other], ResourceOwner=acct)
    assert decision(out) == ["implicitDeny"]


def test_the_callers_account_comes_from_caller_arn(sim):
    """A resource policy's Deny of an account applies to a CallerArn of that
    account, whoever signs the simulation request."""
    iam, acct = sim
    bucket_policy = doc(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"},
        {"Effect": "Deny", "Principal": {"AWS": OTHER}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"})
    out = iam.simulate_custom_policy(PolicyInputList=[GET_OBJECT], ActionNames=["s3:GetObject"],
                                     ResourceArns=["arn:aws:s3:::photos/cat.jpg"], ResourcePolicy=bucket_policy,
                                     CallerArn=f"arn:aws:iam::{OTHER}:user/bob", ResourceOwner=acct)
    assert decision(out) == ["explicitDeny"]
    out = iam.simulate_custom_policy(PolicyInputList=[GET_OBJECT], ActionNames=["s3:GetObject"],
                                     ResourceArns=["arn:aws:s3:::photos/cat.jpg"], ResourcePolicy=bucket_policy,
                                     CallerArn=f"arn:aws:iam::{acct}:user/bob")
    assert decision(out) == ["allowed"]


def test_an_unspecified_resource_matches_specific_resources(sim):
    """Without ResourceArns the simulated resource is `*`, which a statement
    naming a specific resource matches; NotResource of everything does not."""
    iam, _ = sim
    assert decision(iam.simulate_custom_policy(PolicyInputList=[GET_OBJECT], ActionNames=["s3:GetObject"])) == ["allowed"]
    not_everything = doc({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "*"})
    assert decision(iam.simulate_custom_policy(PolicyInputList=[not_everything],
                                               ActionNames=["s3:GetObject"])) == ["implicitDeny"]
    not_one = doc({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"})
    assert decision(iam.simulate_custom_policy(PolicyInputList=[not_one], ActionNames=["s3:GetObject"])) == ["allowed"]
    # A named resource is still matched exactly.
    out = iam.simulate_custom_policy(PolicyInputList=[GET_OBJECT], ActionNames=["s3:GetObject"],
                                     ResourceArns=["arn:aws:s3:::other/cat.jpg"])
    assert decision(out) == ["implicitDeny"]


def test_a_trust_policy_is_simulated_as_assume_role_enforces_it(sim):
    """A role trust policy must allow the caller itself, even when the
    identity policy allows sts:AssumeRole [UG reference_policies_evaluation-logic]."""
    iam, acct = sim
    caller = f"arn:aws:iam::{acct}:user/alice"
    assume_any = doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    role = f"arn:aws:iam::{acct}:role/target"
    someone_else = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/bob"},
                        "Action": "sts:AssumeRole"})
    names_caller = doc({"Effect": "Allow", "Principal": {"AWS": caller}, "Action": "sts:AssumeRole"})
    common = dict(PolicyInputList=[assume_any], ActionNames=["sts:AssumeRole"], ResourceArns=[role], CallerArn=caller)
    assert decision(iam.simulate_custom_policy(**common, ResourcePolicy=someone_else)) == ["implicitDeny"]
    assert decision(iam.simulate_custom_policy(**common, ResourcePolicy=names_caller)) == ["allowed"]


def test_principal_policy_with_caller_arn_and_resource_owner(sim, server):
    iam, acct = sim
    iam.create_user(UserName="david")
    iam.put_user_policy(UserName="david", PolicyName="p", PolicyDocument=GET_OBJECT)
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"}, "Action": "sts:AssumeRole"}))
    silent_bucket_policy = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:user/bob"},
                                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"})
    common = dict(PolicySourceArn=f"arn:aws:iam::{acct}:user/david", ActionNames=["s3:GetObject"],
                  ResourceArns=["arn:aws:s3:::photos/cat.jpg"], ResourcePolicy=silent_bucket_policy)
    assert decision(iam.simulate_principal_policy(**common)) == ["allowed"]
    assert decision(iam.simulate_principal_policy(**common, ResourceOwner=OTHER)) == ["implicitDeny"]
    # "as if Bob had David's policies": a resource policy naming bob grants bob across accounts.
    assert decision(iam.simulate_principal_policy(**common, ResourceOwner=OTHER,
                                                  CallerArn=f"arn:aws:iam::{acct}:user/bob")) == ["allowed"]
    # A role as the source needs a CallerArn when a resource policy is simulated.
    with pytest.raises(ClientError) as e:
        iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{acct}:role/r", ActionNames=["s3:GetObject"],
                                      ResourcePolicy=silent_bucket_policy)
    assert e.value.response["Error"]["Code"] == "InvalidInput"


def test_bad_simulation_parameters(sim):
    iam, acct = sim
    with pytest.raises(ClientError) as e:
        iam.simulate_custom_policy(PolicyInputList=[GET_OBJECT], ActionNames=["s3:GetObject"],
                                   CallerArn=f"arn:aws:sts::{acct}:assumed-role/r/s")
    assert e.value.response["Error"]["Code"] == "InvalidInput"
    with pytest.raises(ClientError) as e:
        iam.simulate_custom_policy(PolicyInputList=[GET_OBJECT], ActionNames=["s3:GetObject"],
                                   ResourceOwner="not-an-account")
    assert e.value.response["Error"]["Code"] == "InvalidInput"
    with pytest.raises(ClientError) as e:
        iam.simulate_custom_policy(PolicyInputList=[GET_OBJECT], ActionNames=["s3:GetObject"],
                                   ResourceHandlingOption="EC2-Classic-InstanceStore")
    assert e.value.response["Error"]["Code"] == "InvalidInput"
    out = iam.simulate_custom_policy(PolicyInputList=[GET_OBJECT], ActionNames=["s3:GetObject"],
                                     ResourceHandlingOption="EC2-VPC-EBS")
    assert decision(out) == ["allowed"]
    with pytest.raises(ClientError) as e:
        iam.simulate_custom_policy(PolicyInputList=[GET_OBJECT], ActionNames=["s3:GetObject"],
                                   ResourcePolicy=doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                       "Resource": "*"}))
    assert e.value.response["Error"]["Code"] == "InvalidInput"
