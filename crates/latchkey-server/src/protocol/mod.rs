//! Wire protocols: awsQuery (form parameters in, XML out) and awsJson1_1.

pub mod json;
pub mod query;
pub mod s3;
pub mod xml;

/// Which AWS service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// STS, awsQuery, version 2011-06-15.
    Sts,
    /// IAM, awsQuery, version 2010-05-08.
    Iam,
    /// Organizations, awsJson1_1.
    Organizations,
    /// CloudTrail, awsJson1_1.
    CloudTrail,
    /// S3, REST-XML, served by the front end in `crate::s3` (never
    /// dispatched as an awsQuery or awsJson action).
    S3,
}

impl Service {
    /// From the SigV4 credential-scope service name.
    pub fn from_signing_name(name: &str) -> Option<Self> {
        match name {
            "sts" => Some(Service::Sts),
            "iam" => Some(Service::Iam),
            "organizations" => Some(Service::Organizations),
            "cloudtrail" => Some(Service::CloudTrail),
            "s3" => Some(Service::S3),
            _ => None,
        }
    }

    /// The SigV4 signing name, also the IAM action prefix.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Sts => "sts",
            Service::Iam => "iam",
            Service::Organizations => "organizations",
            Service::CloudTrail => "cloudtrail",
            Service::S3 => "s3",
        }
    }

    /// The API version for awsQuery services.
    pub fn query_version(self) -> &'static str {
        match self {
            Service::Sts => "2011-06-15",
            Service::Iam => "2010-05-08",
            Service::Organizations | Service::CloudTrail | Service::S3 => "",
        }
    }

    /// XML namespace for awsQuery responses.
    pub fn xml_namespace(self) -> &'static str {
        match self {
            Service::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
            Service::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
            Service::S3 => "http://s3.amazonaws.com/doc/2006-03-01/",
            Service::Organizations | Service::CloudTrail => "",
        }
    }

    /// Whether the service speaks awsJson1_1.
    pub fn is_json(self) -> bool {
        matches!(self, Service::Organizations | Service::CloudTrail)
    }

    /// The `X-Amz-Target` prefix of an awsJson service.
    pub fn json_target_prefix(self) -> &'static str {
        match self {
            Service::Organizations => "AWSOrganizationsV20161128.",
            Service::CloudTrail => "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.",
            Service::Sts | Service::Iam | Service::S3 => "",
        }
    }

    /// The service for a JSON target, by its prefix.
    pub fn from_json_target(target: &str) -> Option<(Self, &str)> {
        [Service::Organizations, Service::CloudTrail]
            .into_iter()
            .find_map(|s| target.strip_prefix(s.json_target_prefix()).map(|op| (s, op)))
    }
}
