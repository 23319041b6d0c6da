//! The web console: the Vite build in `api/console/dist/` (committed; `npm run build` in
//! `api/console/` writes it), embedded into the binary so Node is not needed at run time. Every
//! file is served with a strong ETag (`no-cache`: the browser revalidates, a 304 costs no body)
//! and gzip-compressed once, when the client accepts it.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::sync::OnceLock;

use crate::state::AppState;

/// One embedded file of the build.
struct Asset {
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../console/dist/index.html"),
};
const APP_JS: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_bytes!("../../console/dist/assets/app.js"),
};
const APP_CSS: Asset = Asset {
    content_type: "text/css; charset=utf-8",
    body: include_bytes!("../../console/dist/assets/app.css"),
};

/// An asset's ETag and gzip body, computed on first use.
struct Prepared {
    etag: HeaderValue,
    gzip: Vec<u8>,
}

fn prepare(a: &Asset) -> Prepared {
    let digest = Sha256::digest(a.body);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail; fall back to the plain body if it somehow did.
    let gzip = gz
        .write_all(a.body)
        .and_then(|()| gz.finish())
        .unwrap_or_default();
    Prepared {
        etag: HeaderValue::from_str(&format!("\"{hex}\""))
            .unwrap_or(HeaderValue::from_static("\"0\"")),
        gzip,
    }
}

/// `/` and the two assets the build emits (fixed names, see `api/console/vite.config.js`).
pub fn router() -> Router<AppState> {
    static CACHE: [OnceLock<Prepared>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    Router::new()
        .route(
            "/",
            get(|h: HeaderMap| async move { serve(&INDEX, &CACHE[0], &h) }),
        )
        .route(
            "/assets/app.js",
            get(|h: HeaderMap| async move { serve(&APP_JS, &CACHE[1], &h) }),
        )
        .route(
            "/assets/app.css",
            get(|h: HeaderMap| async move { serve(&APP_CSS, &CACHE[2], &h) }),
        )
}

fn serve(a: &'static Asset, cache: &'static OnceLock<Prepared>, req: &HeaderMap) -> Response {
    let p = cache.get_or_init(|| prepare(a));
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(a.content_type),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, p.etag.clone()),
        (header::VARY, HeaderValue::from_static("accept-encoding")),
    ];
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == p.etag.to_str().unwrap_or(""))
        });
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let gzip_ok = !p.gzip.is_empty()
        && req
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if gzip_ok {
        let mut r = (headers, p.gzip.as_slice()).into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        (headers, a.body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn the_build_is_embedded_and_its_gzip_round_trips() {
        let index = std::str::from_utf8(INDEX.body).unwrap_or_default();
        assert!(index.contains("/assets/app.js"), "{index}");
        assert!(index.contains("/assets/app.css"), "{index}");
        for a in [&INDEX, &APP_JS, &APP_CSS] {
            let p = prepare(a);
            assert!(p.gzip.len() < a.body.len());
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(p.gzip.as_slice())
                .read_to_end(&mut out)
                .unwrap_or_default();
            assert_eq!(out, a.body);
        }
    }

    #[test]
    fn a_matching_etag_is_a_304_without_body() {
        static C: OnceLock<Prepared> = OnceLock::new();
        let first = serve(&APP_CSS, &C, &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(serve(&APP_CSS, &C, &h).status(), StatusCode::NOT_MODIFIED);
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(serve(&APP_CSS, &C, &h).status(), StatusCode::OK);
    }
}
