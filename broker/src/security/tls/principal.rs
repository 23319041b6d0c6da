//! The mTLS principal: a client certificate's subject written as Java's
//! `X500Principal.getName()` writes it (RFC 2253: most specific RDN first, RFC 2253 keywords,
//! other attributes as `oid=#hex`), then mapped by `ssl.principal.mapping.rules`.

use super::mapping::{MappingError, PrincipalMapper};
use crate::security::Principal;
use x509_cert::Certificate;
use x509_cert::der::asn1::{AnyRef, ObjectIdentifier};
use x509_cert::der::{Decode, Encode, Tag, Tagged};
use x509_cert::name::Name;

/// Why a certificate gave no principal.
#[derive(Debug, thiserror::Error)]
pub enum PrincipalError {
    #[error("parsing the client certificate: {0}")]
    Certificate(String),
    #[error("mapping the client certificate's subject: {0}")]
    Mapping(#[from] MappingError),
}

/// The keywords Java's RFC 2253 form uses; every other attribute type is written as its OID.
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// The principal for a client certificate (DER): `User:<mapped subject>`.
pub fn principal_of(
    cert_der: &[u8],
    mapper: &PrincipalMapper,
) -> Result<Principal, PrincipalError> {
    let dn = subject_of(cert_der)?;
    Ok(Principal::user(mapper.name(&dn)?))
}

/// A certificate's subject in RFC 2253 form (`CN=alice,OU=eng,O=Eddy`).
pub fn subject_of(cert_der: &[u8]) -> Result<String, PrincipalError> {
    let cert =
        Certificate::from_der(cert_der).map_err(|e| PrincipalError::Certificate(e.to_string()))?;
    rfc2253(&cert.tbs_certificate.subject)
}

/// A certificate's serial number in hex (for logs and tests).
pub fn serial_of(cert_der: &[u8]) -> Result<String, PrincipalError> {
    let cert =
        Certificate::from_der(cert_der).map_err(|e| PrincipalError::Certificate(e.to_string()))?;
    Ok(hex(cert.tbs_certificate.serial_number.as_bytes()))
}

fn rfc2253(name: &Name) -> Result<String, PrincipalError> {
    let mut rdns = Vec::with_capacity(name.0.len());
    // DER holds the most general RDN first; RFC 2253 writes the most specific first.
    for rdn in name.0.iter().rev() {
        let mut avas = Vec::new();
        for ava in rdn.0.iter() {
            let value = AnyRef::from(&ava.value);
            avas.push(attribute(&ava.oid, value)?);
        }
        rdns.push(avas.join("+"));
    }
    Ok(rdns.join(","))
}

fn attribute(oid: &ObjectIdentifier, value: AnyRef<'_>) -> Result<String, PrincipalError> {
    let oid_text = oid.to_string();
    let keyword = KEYWORDS
        .iter()
        .find(|(o, _)| *o == oid_text)
        .map(|(_, k)| *k);
    match (keyword, decode_string(value)) {
        (Some(k), Some(s)) => Ok(format!("{k}={}", escape(&s))),
        (k, _) => {
            let der = value
                .to_der()
                .map_err(|e| PrincipalError::Certificate(e.to_string()))?;
            Ok(format!("{}=#{}", k.unwrap_or(&oid_text), hex(&der)))
        }
    }
}

/// The directory string types Java prints as text.
fn decode_string(value: AnyRef<'_>) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            String::from_utf8(bytes.to_vec()).ok()
        }
        // T.61 as Java reads it: one byte per character (ISO 8859-1).
        Tag::TeletexString => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// RFC 2253 escaping as Java does it: the special characters get a backslash, and so do
/// leading and trailing spaces.
fn escape(s: &str) -> String {
    const SPECIAL: &str = ",=+<>#;\"\\";
    let chars: Vec<char> = s.chars().collect();
    let lead = chars.iter().take_while(|c| **c == ' ').count();
    let trail = chars.len() - chars.iter().rev().take_while(|c| **c == ' ').count();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        if SPECIAL.contains(c) || i < lead || i >= trail {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    fn cert_with(dn: &[(DnType, &str)]) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            params.distinguished_name.push(t.clone(), *v);
        }
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn the_subject_reads_most_specific_first() {
        let der = cert_with(&[
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "Eddy"),
            (DnType::OrganizationalUnitName, "eng"),
            (DnType::CommonName, "alice"),
        ]);
        assert_eq!(subject_of(&der).expect("dn"), "CN=alice,OU=eng,O=Eddy,C=US");
        let mapper = PrincipalMapper::parse("RULE:^CN=(.*?),OU=(.*?),.*$/$1@$2/U").expect("rules");
        assert_eq!(
            principal_of(&der, &mapper).expect("principal").to_string(),
            "User:ALICE@ENG"
        );
        assert!(!serial_of(&der).expect("serial").is_empty());
    }

    #[test]
    fn special_characters_are_escaped_and_unknown_types_are_hex() {
        let der = cert_with(&[
            (DnType::OrganizationName, " Eddy, Inc. "),
            (DnType::CommonName, "a+b=c#"),
            (
                DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
                "alice@example.com",
            ),
        ]);
        let dn = subject_of(&der).expect("dn");
        // rcgen writes a custom type as a UTF8String (tag 0x0c).
        assert_eq!(
            dn,
            "1.2.840.113549.1.9.1=#0c11616c696365406578616d706c652e636f6d,\
             CN=a\\+b\\=c\\#,O=\\ Eddy\\, Inc.\\ "
        );
    }
}
