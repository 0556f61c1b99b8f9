//! A small XML writer for awsQuery responses: elements in the order AWS
//! writes them, text escaped, nothing else.

use crate::ApiError;
use crate::protocol::Service;

/// Builds the inside of an `…Result` element.
#[derive(Debug, Default)]
pub struct Xml {
    buf: String,
}

impl Xml {
    /// An empty document.
    pub fn new() -> Self {
        Self { buf: String::with_capacity(512) }
    }

    /// `<tag>`
    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `</tag>`
    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `<tag>text</tag>`, escaped.
    pub fn elem(&mut self, tag: &str, text: &str) -> &mut Self {
        self.open(tag);
        self.buf.push_str(&quick_xml::escape::escape(text));
        self.close(tag)
    }

    /// `<tag>text</tag>` when `text` is present.
    pub fn opt(&mut self, tag: &str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.elem(tag, t);
        }
        self
    }

    /// `<tag>true|false</tag>`
    pub fn bool(&mut self, tag: &str, v: bool) -> &mut Self {
        self.elem(tag, if v { "true" } else { "false" })
    }

    /// The written text.
    pub fn into_string(self) -> String {
        self.buf
    }
}

/// The whole success document: `<ActionResponse xmlns><ActionResult>…</ActionResult><ResponseMetadata>…`.
/// Actions with no output have no Result element, as on AWS.
pub fn success(service: Service, action: &str, result: Option<&str>, request_id: &str) -> String {
    let ns = service.xml_namespace();
    let mut s = String::with_capacity(256 + result.map_or(0, str::len));
    s.push_str(&format!("<{action}Response xmlns=\"{ns}\">\n"));
    if let Some(r) = result {
        s.push_str(&format!("  <{action}Result>\n{r}\n  </{action}Result>\n"));
    }
    s.push_str(&format!("  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"));
    s
}

/// The `ErrorResponse` document, RequestId directly under the root as AWS writes it.
pub fn error(service: Service, e: &ApiError, request_id: &str) -> String {
    let ns = service.xml_namespace();
    let fault = match e.fault() {
        crate::error::Fault::Sender => "Sender",
        crate::error::Fault::Receiver => "Receiver",
    };
    format!(
        "<ErrorResponse xmlns=\"{ns}\">\n  <Error>\n    <Type>{fault}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        quick_xml::escape::escape(e.code()),
        quick_xml::escape::escape(e.message()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut x = Xml::new();
        x.elem("A", "<&>\"'");
        assert_eq!(x.into_string(), "<A>&lt;&amp;&gt;&quot;&apos;</A>");
    }
}
