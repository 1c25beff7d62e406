//! QR codes for the virtual-device set-up page, as SVG in a `data:` URI: no JavaScript, no
//! image crates, nothing fetched.

use base64::Engine;
use qrcode::QrCode;
use qrcode::render::svg;

pub(crate) fn svg_data_uri(text: &str) -> String {
    let svg = match QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<svg::Color>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a QR code");
            String::new()
        }
    };
    format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}
