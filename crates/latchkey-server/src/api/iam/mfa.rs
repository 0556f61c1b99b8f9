//! Virtual MFA devices.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latchkey_model::{MfaDevice, OwnerKind, format_iso8601, totp};
use latchkey_store::Op;

use super::{Page, account, account_in, authorize_owner, check_path, find_owner};
use crate::{ApiError, ErrorCode};
use crate::api::{Answer, Ctx, Output};
use crate::authz::{self, Request};
use crate::protocol::query::{Violations, is_name_char};
use crate::protocol::xml::Xml;

/// AWS's quota of MFA devices per user.
const MAX_PER_USER: usize = 8;

fn serial_param<'p>(ctx: &'p Ctx<'_>) -> Result<&'p str, ApiError> {
    let serial = ctx.params.required("SerialNumber")?;
    let mut v = Violations::default();
    v.length("SerialNumber", serial, 9, 256);
    v.pattern("SerialNumber", serial, "[\\w+=/:,.@-]+", |c| is_name_char(c) || c == '/' || c == ':');
    v.finish()?;
    Ok(serial)
}

fn no_such_device(serial: &str) -> ApiError {
    ApiError::no_such_entity(format!("VirtualMFADevice with serial number {serial} doesn't exist."))
}

/// A QR code PNG of `text`, as the AWS console shows for enrolment.
fn qr_png(text: &str) -> Result<Vec<u8>, ApiError> {
    const SCALE: usize = 4;
    const QUIET: usize = 4;
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(ApiError::internal)?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (mx, my) = (i % width + QUIET, i / width + QUIET);
            for dy in 0..SCALE {
                let row = (my * SCALE + dy) * side;
                if let Some(px) = pixels.get_mut(row + mx * SCALE..row + (mx + 1) * SCALE) {
                    px.fill(0);
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let side32 = u32::try_from(side).map_err(ApiError::internal)?;
        let mut enc = png::Encoder::new(&mut out, side32, side32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(ApiError::internal)?;
        w.write_image_data(&pixels).map_err(ApiError::internal)?;
    }
    Ok(out)
}

pub(super) async fn create_virtual(ctx: &Ctx<'_>) -> Output {
    let name = ctx.params.required("VirtualMFADeviceName")?;
    let path = ctx.params.get("Path").unwrap_or("/");
    let mut v = Violations::default();
    v.length("VirtualMFADeviceName", name, 1, 226);
    v.pattern("VirtualMFADeviceName", name, "[\\w+=,.@-]+", is_name_char);
    check_path(&mut v, "Path", path);
    v.finish()?;
    let serial = latchkey_model::Arn::iam(&ctx.caller.account, "mfa", path, name);
    let proof = authz::authorize(ctx, Request { action: "iam:CreateVirtualMFADevice", resource: &serial })?;
    let mut seed = zeroize::Zeroizing::new(vec![0u8; 20]);
    latchkey_model::random_bytes(&mut seed);
    let base32 = zeroize::Zeroizing::new(data_encoding_base32(&seed));
    let device = MfaDevice { serial: serial.clone(), account: ctx.caller.account, assigned: None, created: ctx.now };
    ctx.app
        .state
        .write(&proof, |snap| {
            if account_in(ctx, snap)?.mfa.contains_key(&serial) {
                return Err(ApiError::entity_already_exists("MFADevice entity at the same path and name already exists."));
            }
            Ok((vec![Op::InsertMfaDevice(device.clone(), seed.clone())], ()))
        })
        .await?;
    let label = format!("latchkey:{name}@{}", ctx.caller.account);
    let uri = format!("otpauth://totp/{}?secret={}&issuer=latchkey", label.replace(' ', "%20"), base32.as_str());
    let png = qr_png(&uri)?;
    let mut x = Xml::new();
    x.open("VirtualMFADevice")
        .elem("SerialNumber", &serial)
        // Both blobs travel base64-encoded, as AWS sends them.
        .elem("Base32StringSeed", &STANDARD.encode(base32.as_bytes()))
        .elem("QRCodePNG", &STANDARD.encode(&png))
        .close("VirtualMFADevice");
    Ok(Answer::new(proof, Some(x.into_string())))
}

fn data_encoding_base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        buffer = (buffer << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let idx = usize::try_from((buffer >> bits) & 31).unwrap_or(0);
            out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
        }
    }
    if bits > 0 {
        let idx = usize::try_from((buffer << (5 - bits)) & 31).unwrap_or(0);
        out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
    }
    out
}

pub(super) async fn enable(ctx: &Ctx<'_>) -> Output {
    let serial = serial_param(ctx)?;
    let c1 = ctx.params.required("AuthenticationCode1")?;
    let c2 = ctx.params.required("AuthenticationCode2")?;
    let mut v = Violations::default();
    v.length("AuthenticationCode1", c1, 6, 6);
    v.length("AuthenticationCode2", c2, 6, 6);
    v.finish()?;
    let (user, proof) = authorize_owner(ctx, OwnerKind::User, "iam:EnableMFADevice", |_| {})?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let user = find_owner(acct, OwnerKind::User, &user.name)?;
            let entry = acct.mfa.get(serial).ok_or_else(|| no_such_device(serial))?;
            if entry.device.assigned.is_some() {
                return Err(ApiError::entity_already_exists("MFA Device is already in use."));
            }
            if acct.mfa.values().filter(|e| e.device.assigned.as_ref().is_some_and(|(u, _)| *u == user.id)).count() >= MAX_PER_USER {
                return Err(ApiError::limit_exceeded(format!("Cannot exceed quota for MFADevicesPerUser: {MAX_PER_USER}")));
            }
            // Two consecutive codes prove the device is in sync; they may
            // come from the last few minutes, as users type them in turn.
            let step1 = totp::parse_code(c1).and_then(|c| totp::matching_step(&entry.seed, c, ctx.now, 10));
            let step2 = totp::parse_code(c2).and_then(|c| totp::matching_step(&entry.seed, c, ctx.now, 10));
            match (step1, step2) {
                (Some(a), Some(b)) if b == a + 1 => {}
                _ => {
                    return Err(ApiError::of(ErrorCode::InvalidAuthenticationCode, "Authentication code for device is not valid."));
                }
            }
            Ok((vec![Op::AssignMfaDevice { serial: serial.to_owned(), assigned: Some((user.id, ctx.now)) }], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn deactivate(ctx: &Ctx<'_>) -> Output {
    let serial = serial_param(ctx)?;
    let (user, proof) = authorize_owner(ctx, OwnerKind::User, "iam:DeactivateMFADevice", |_| {})?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let acct = account_in(ctx, snap)?;
            let assigned_to_user =
                acct.mfa.get(serial).is_some_and(|e| e.device.assigned.as_ref().is_some_and(|(u, _)| *u == user.id));
            if !assigned_to_user {
                return Err(ApiError::no_such_entity(format!("MFA Device with serial number {serial} does not exist.")));
            }
            Ok((vec![Op::AssignMfaDevice { serial: serial.to_owned(), assigned: None }], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) async fn delete_virtual(ctx: &Ctx<'_>) -> Output {
    let serial = serial_param(ctx)?;
    let proof = authz::authorize(ctx, Request { action: "iam:DeleteVirtualMFADevice", resource: serial })?;
    ctx.app
        .state
        .write(&proof, |snap| {
            let entry = account_in(ctx, snap)?.mfa.get(serial).ok_or_else(|| no_such_device(serial))?;
            if entry.device.assigned.is_some() {
                return Err(ApiError::delete_conflict("MFA VirtualDevice in use. Must deactivate first."));
            }
            Ok((vec![Op::DeleteMfaDevice(serial.to_owned())], ()))
        })
        .await?;
    Ok(Answer::empty(proof))
}

pub(super) fn list(ctx: &Ctx<'_>) -> Output {
    let page = Page::from_params(ctx)?;
    let (user, proof) = if ctx.params.get("UserName").is_some() {
        let (owner, proof) = authorize_owner(ctx, OwnerKind::User, "iam:ListMFADevices", |_| {})?;
        (owner.id, proof)
    } else {
        match &ctx.caller.principal {
            crate::authn::Principal::User { id, arn, .. } => {
                let proof = authz::authorize(ctx, Request { action: "iam:ListMFADevices", resource: arn })?;
                (latchkey_model::UniqueId::from_stored(id.clone()), proof)
            }
            _ => return Err(super::needs_user_name()),
        }
    };
    let acct = account(ctx)?;
    let user_name = acct.user_by_id(&user).map(|u| u.name.clone()).unwrap_or_default();
    let devices: Vec<_> =
        acct.mfa.values().filter(|e| e.device.assigned.as_ref().is_some_and(|(u, _)| *u == user)).collect();
    let mut x = Xml::new();
    page.write(&mut x, "MFADevices", &devices, |x, e| {
        x.open("member").elem("UserName", &user_name).elem("SerialNumber", &e.device.serial);
        if let Some((_, at)) = &e.device.assigned {
            x.elem("EnableDate", &format_iso8601(*at));
        }
        x.close("member");
    });
    Ok(Answer::new(proof, Some(x.into_string())))
}

pub(super) fn list_virtual(ctx: &Ctx<'_>) -> Output {
    let status = ctx.params.get("AssignmentStatus").unwrap_or("Any");
    if !matches!(status, "Assigned" | "Unassigned" | "Any") {
        let mut v = Violations::default();
        v.add("AssignmentStatus", Some(status), "Member must satisfy enum value set: [Unassigned, Any, Assigned]");
        v.finish()?;
    }
    let page = Page::from_params(ctx)?;
    let resource = format!("arn:aws:iam::{}:mfa/", ctx.caller.account);
    let proof = authz::authorize(ctx, Request { action: "iam:ListVirtualMFADevices", resource: &resource })?;
    let acct = account(ctx)?;
    let devices: Vec<_> = acct
        .mfa
        .values()
        .filter(|e| match status {
            "Assigned" => e.device.assigned.is_some(),
            "Unassigned" => e.device.assigned.is_none(),
            _ => true,
        })
        .collect();
    let mut x = Xml::new();
    page.write(&mut x, "VirtualMFADevices", &devices, |x, e| {
        x.open("member").elem("SerialNumber", &e.device.serial);
        if let Some((uid, at)) = &e.device.assigned {
            if let Some(u) = acct.user_by_id(uid) {
                super::write_user(x, "User", u, false);
            }
            x.elem("EnableDate", &format_iso8601(*at));
        }
        x.close("member");
    });
    Ok(Answer::new(proof, Some(x.into_string())))
}
