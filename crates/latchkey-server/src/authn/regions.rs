//! The regions a credential scope may name: AWS's, in every partition, and
//! the ones this deployment adds with `--extra-regions`. Any other region is
//! refused at authentication, before the access key is looked up, with the
//! `SignatureDoesNotMatch` AWS gives ("Credential should be scoped to a
//! valid region.").

/// AWS's region names, sorted (looked up by binary search).
///
/// Taken on 2026-12-07 from botocore 1.44.5 (the version pinned in
/// `tests/e2e/requirements.txt`): every key of `partitions[].regions` in
/// `botocore/data/endpoints.json` and `botocore/data/partitions.json`, that
/// is the regions of the partitions aws, aws-cn, aws-us-gov, aws-iso,
/// aws-iso-b, aws-iso-e, aws-iso-f and aws-eusc, with the `*-global`
/// pseudo-regions those files list (`aws-global` among them). A region AWS
/// opens later can be accepted at once with `--extra-regions`.
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "aws-cn-global",
    "aws-global", "aws-iso-b-global", "aws-iso-e-global", "aws-iso-f-global", "aws-iso-global",
    "aws-us-gov-global", "ca-central-1", "ca-west-1", "cn-north-1", "cn-northwest-1",
    "eu-central-1", "eu-central-2", "eu-isoe-west-1", "eu-north-1", "eu-south-1", "eu-south-2",
    "eu-west-1", "eu-west-2", "eu-west-3", "eusc-de-east-1", "il-central-1", "me-central-1",
    "me-south-1", "me-west-1", "mx-central-1", "sa-east-1", "sa-west-1", "us-east-1", "us-east-2",
    "us-gov-east-1", "us-gov-west-1", "us-iso-east-1", "us-iso-west-1", "us-isob-east-1",
    "us-isob-west-1", "us-isof-east-1", "us-isof-south-1", "us-west-1", "us-west-2",
];

/// The regions this server accepts in a credential scope.
#[derive(Debug, Clone, Default)]
pub struct Regions {
    /// Configured beyond AWS's, sorted and deduplicated.
    extra: Vec<String>,
}

impl Regions {
    /// AWS's regions and `extra`.
    pub fn with_extra<I, S>(extra: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut extra: Vec<String> = extra.into_iter().map(Into::into).collect();
        extra.sort_unstable();
        extra.dedup();
        Self { extra }
    }

    /// Whether a credential scope may name `region` (exactly; AWS's region
    /// names are lower case).
    pub fn contains(&self, region: &str) -> bool {
        AWS_REGIONS.binary_search(&region).is_ok() || self.extra.binary_search_by(|r| r.as_str().cmp(region)).is_ok()
    }
}

/// Whether `name` can be configured as an extra region: what may stand
/// between two slashes of a credential scope and looks like a region name
/// (ASCII letters, digits, `-` and `_`, at most 64 characters).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_unique() {
        assert!(AWS_REGIONS.windows(2).all(|w| matches!(w, [a, b] if a < b)));
    }

    #[test]
    fn aws_regions_of_every_partition() {
        let r = Regions::default();
        for region in [
            "us-east-1",
            "eu-central-1",
            "aws-global",
            "cn-north-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "us-isof-south-1",
            "eusc-de-east-1",
        ] {
            assert!(r.contains(region), "{region}");
        }
        for region in ["xx-fake-9", "", "US-EAST-1", "us-east-1 ", "us-east-10", "local"] {
            assert!(!r.contains(region), "{region:?}");
        }
    }

    #[test]
    fn extra_regions_are_added() {
        let r = Regions::with_extra(["local", "dc-2", "local"]);
        assert!(r.contains("local") && r.contains("dc-2") && r.contains("us-west-2"));
        assert!(!r.contains("dc-3"));
    }

    #[test]
    fn extra_region_names() {
        assert!(is_valid_name("dc-2") && is_valid_name("on_prem1"));
        for bad in ["", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }
}
