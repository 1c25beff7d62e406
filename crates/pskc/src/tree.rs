//! A small, bounded element tree built with quick-xml: namespaces are dropped (PSKC files
//! use any prefix), text is trimmed, and hostile constructs stop the parse.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::FileError;

pub const MAX_BYTES: usize = 8 * 1024 * 1024;
pub const MAX_DEPTH: usize = 32;
pub const MAX_ELEMENTS: usize = 200_000;

#[derive(Debug, Default)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first element along `path` (each step a child's local name).
    pub fn find(&self, path: &[&str]) -> Option<&Element> {
        let mut here = self;
        for step in path {
            here = here.children.iter().find(|c| c.name == *step)?;
        }
        Some(here)
    }

    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.find(path).map(|e| e.text.trim())
    }
}

fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or_default().to_owned()
}

pub(crate) fn parse(document: &[u8]) -> Result<Element, FileError> {
    if document.len() > MAX_BYTES {
        return Err(FileError::TooLarge);
    }
    let text = std::str::from_utf8(document).map_err(|_| FileError::Xml("not UTF-8".to_owned()))?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let xml = |e: quick_xml::Error| FileError::Xml(e.to_string());
    loop {
        let event = reader.read_event().map_err(xml)?;
        match event {
            Event::DocType(_) => return Err(FileError::DocType),
            Event::Start(ref start) | Event::Empty(ref start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(FileError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(FileError::TooDeep);
                }
                let mut element = Element {
                    name: local(start.name().as_ref()),
                    ..Element::default()
                };
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|e| FileError::Xml(e.to_string()))?;
                    let value = attribute
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(xml)?;
                    element
                        .attributes
                        .push((local(attribute.key.as_ref()), value.into_owned()));
                }
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut root, element)?;
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| FileError::Xml("unbalanced end tag".to_owned()))?;
                attach(&mut stack, &mut root, element)?;
            }
            Event::Text(text) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) => {
                if let Some(top) = stack.last_mut() {
                    top.text
                        .push_str(&data.xml_content(quick_xml::XmlVersion::Implicit1_0));
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(xml)? {
                    Some(c) => c,
                    None => match reference.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(FileError::Entity(other.to_owned())),
                    },
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push(resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(FileError::Xml(
            "the document ends inside an element".to_owned(),
        ));
    }
    root.ok_or_else(|| FileError::Xml("no root element".to_owned()))
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
) -> Result<(), FileError> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(element);
            Ok(())
        }
        None if root.is_none() => {
            *root = Some(element);
            Ok(())
        }
        None => Err(FileError::Xml("more than one root element".to_owned())),
    }
}
