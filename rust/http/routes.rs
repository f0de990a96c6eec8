//! Route templates: the path label of a request is the route the framework matched, with its
//! parameters as `{name}` (Flask's and Django's `<int:id>`, Starlette's `{id:int}`), never the
//! raw URL, so a path label has as many values as the app has routes.

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::recorder::Recorder;

/// The path label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";
/// Route templates remembered; past this many distinct routes they are converted each time.
const TEMPLATE_CACHE: usize = 4096;

/// Flask's and Django's `<int:id>`, Starlette's `{id:int}`, as `{id}`; with a leading `/`.
pub fn route_template(route: &str) -> String {
    let mut out = String::with_capacity(route.len() + 1);
    if !route.starts_with('/') {
        out.push('/');
    }
    let mut rest = route;
    while let Some(i) = rest.find(['<', '{']) {
        out.push_str(&rest[..i]);
        let (open, close) = if rest.as_bytes()[i] == b'<' {
            ('<', '>')
        } else {
            ('{', '}')
        };
        let after = &rest[i + 1..];
        let end = after.find([open, close]).filter(|&j| after[j..].starts_with(close));
        let Some(j) = end else {
            out.push(open);
            rest = after;
            continue;
        };
        let inner = &after[..j];
        let name = match (open, inner.split_once(':')) {
            // <converter:name>, <converter(args):name>
            ('<', Some((converter, name))) if !converter.is_empty() => name,
            ('<', _) => inner,
            // {name:converter}; a bare {name} is already a template
            (_, Some((name, converter))) if !converter.is_empty() => name,
            (_, _) => "",
        };
        if name.is_empty() {
            out.push(open);
            out.push_str(inner);
            out.push(close);
        } else {
            out.push('{');
            out.push_str(name);
            out.push('}');
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

impl Recorder {
    pub(super) fn template(&self, route: Option<&str>) -> Arc<str> {
        let Some(route) = route.filter(|r| *r != UNMATCHED) else {
            return UNMATCHED.into();
        };
        if let Some(found) = self.templates.lock().get(route) {
            return found.clone();
        }
        let template: Arc<str> = route_template(route).into();
        let mut templates = self.templates.lock();
        if templates.len() < TEMPLATE_CACHE {
            templates.insert(route.to_owned(), template.clone());
        }
        template
    }

    /// The template of the route a WSGI app or framework left in the environ:
    /// `environ["ferrotel.route"]`, or the rule Flask matched (werkzeug keeps the request in the
    /// environ until Flask's context ends).
    pub(super) fn framework_template(&self, environ: &Bound<'_, PyDict>) -> Option<Arc<str>> {
        let py = environ.py();
        if let Some(route) = environ.get_item(intern!(py, "ferrotel.route")).ok().flatten() {
            // Empty: the app named no route, so the framework's (or the fallback's) is used.
            if let Some(route) = route.cast::<PyString>().ok().and_then(|s| s.to_str().ok()) {
                if !route.is_empty() {
                    return Some(self.template(Some(route)));
                }
            }
        }
        let request = environ.get_item(intern!(py, "werkzeug.request")).ok().flatten()?;
        if request.is_none() {
            return None;
        }
        let rule = request.getattr_opt(intern!(py, "url_rule")).ok().flatten()?;
        if rule.is_none() {
            return None;
        }
        let key = rule.as_ptr() as usize;
        if let Some((_, template)) = self.rules.lock().get(&key) {
            return Some(template.clone());
        }
        let raw = rule.getattr_opt(intern!(py, "rule")).ok().flatten()?;
        let template = self.template(Some(raw.cast::<PyString>().ok()?.to_str().ok()?));
        let mut rules = self.rules.lock();
        if rules.len() < TEMPLATE_CACHE {
            rules.insert(key, (rule.unbind(), template.clone()));
        }
        Some(template)
    }
}

/// The parameter names in a route template: `{name}`, `{name:converter}`.
pub(super) fn template_names(template: &str) -> Vec<&str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|part| {
            part.split_once('}')
                .map(|(inner, _)| inner.split(':').next().unwrap_or(inner))
        })
        .collect()
}

/// `mounted` (a Mount's concrete prefix) with the values of the parameters the inner route
/// does not declare replaced by `{name}`; None when one cannot be placed (its value is not a
/// whole path segment), so the path label is never a raw URL.
pub(super) fn mount_template(mounted: &str, inner: &str, params: Option<Bound<'_, PyAny>>) -> Option<String> {
    let params = params.and_then(|p| p.cast_into::<PyDict>().ok());
    let Some(params) = params.filter(|p| !p.is_empty()) else {
        return Some(mounted.to_owned());
    };
    let declared = template_names(inner);
    let mut segments: Vec<String> = mounted.split('/').map(str::to_owned).collect();
    for (name, value) in params.iter() {
        let name = name.str().ok()?.to_string();
        if declared.contains(&name.as_str()) {
            continue;
        }
        let value = value.str().ok()?.to_string();
        let segment = segments.iter_mut().find(|s| **s == value)?;
        *segment = format!("{{{name}}}");
    }
    Some(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates() {
        for (route, template) in [
            ("/songs/<int:song_id>", "/songs/{song_id}"),
            ("songs/<int:song_id>", "/songs/{song_id}"),
            ("/songs/<song_id>", "/songs/{song_id}"),
            ("/songs/{song_id:int}", "/songs/{song_id}"),
            ("/songs/{song_id}", "/songs/{song_id}"),
            ("/a/<path:p>/b/<re(\"x\"):q>", "/a/{p}/b/{q}"),
            ("^songs/[0-9]{1,3}$", "/^songs/[0-9]{1,3}$"),
            ("/odd<", "/odd<"),
            ("/", "/"),
            ("", "/"),
        ] {
            assert_eq!(route_template(route), template, "{route}");
        }
    }

    #[test]
    fn template_parameter_names() {
        assert_eq!(template_names("/songs/{song_id}/x/{n:int}"), ["song_id", "n"]);
        assert!(template_names("/plain").is_empty());
    }
}
