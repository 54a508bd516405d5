//! Finding the marked regions of one file.
//!
//! Two kinds of region, each a begin and an end comment on lines of their
//! own:
//!
//! ```text
//! // lab 2C: begin [stub: Ok(())] — one-line hint (docs/labs/lab2c.md#anchor)
//! ...the solution...
//! // lab 2C: end
//!
//! // staff-only: begin — why these lines are not for students
//! ...held-out tests...
//! // staff-only: end
//!
//! // needs labs 2AA, 2AB: begin — why these tests need the labs solved
//! ...tests of code outside the labs that calls the labs' code...
//! // needs labs: end
//! ```
//!
//! A `needs labs` region is left out of a skeleton that stubs any of its
//! labs: those tests cannot pass until the student has done the labs,
//! and a skeleton's `make test` must fail only in the labs' own graded
//! suites. (The graded suites themselves need no marker: failing there is
//! the point.)
//!
//! The `[stub: …]` option is the code that replaces the region in the
//! skeleton (see `rewrite`); without it the stub is a `todo!` carrying the
//! hint. A file whose first line starts with `//! staff-only` is left out
//! of the skeleton as a whole.
//!
//! Every line whose comment starts like a marker must be a well-formed
//! one: a typo must not silently leave a solution in the students' tree.

use std::path::Path;

use crate::error::{Error, Location};
use crate::lab::{Lab, LabSet};

/// The prefix of a lab marker comment.
const LAB_PREFIX: &str = "// lab ";
/// The prefix of a staff-only marker comment.
const STAFF_PREFIX: &str = "// staff-only";
/// The prefix of a needs-labs marker comment.
const NEEDS_PREFIX: &str = "// needs labs";
/// The first line of a file the skeleton leaves out.
const STAFF_FILE_PREFIX: &str = "//! staff-only";
/// What separates a begin marker (and its option) from the hint.
const HINT_SEPARATOR: &str = "— ";

/// Who a region belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A lab's solution: replaced by a stub when the lab is chosen.
    Lab(Lab),
    /// Held-out material: always removed from the skeleton.
    StaffOnly,
    /// Tests that need these labs solved: removed from a skeleton that
    /// stubs any of them. An end marker names no labs (an empty set).
    NeedsLabs(LabSet),
}

impl Owner {
    /// How the marker spells the owner, for messages.
    pub fn marker_name(self) -> String {
        match self {
            Owner::Lab(lab) => format!("lab {}", lab.name()),
            Owner::StaffOnly => "staff-only".to_string(),
            Owner::NeedsLabs(_) => "needs labs".to_string(),
        }
    }

    /// Whether an end marker of `end` closes a region of `self`: the same
    /// lab, or the same kind for staff-only and needs-labs regions.
    fn is_closed_by(self, end: Owner) -> bool {
        match (self, end) {
            (Owner::NeedsLabs(_), Owner::NeedsLabs(_)) => true,
            _ => self == end,
        }
    }
}

/// One marked region of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The lab it belongs to, or staff-only.
    pub owner: Owner,
    /// The 1-based line of the begin marker.
    pub begin_line: usize,
    /// The 1-based line of the end marker.
    pub end_line: usize,
    /// The one-line hint (empty for staff-only regions; the reason for
    /// needs-labs regions).
    pub hint: String,
    /// The handout link, `docs/labs/labN.md#anchor` (empty for staff-only).
    pub link: String,
    /// The code of the `[stub: …]` option, if the marker has one.
    pub stub: Option<String>,
}

/// Whether a file is staff-only as a whole.
pub fn is_staff_only_file(text: &str) -> bool {
    text.lines()
        .next()
        .is_some_and(|line| line.trim_start().starts_with(STAFF_FILE_PREFIX))
}

/// A parsed marker line.
enum Marker {
    Begin {
        owner: Owner,
        hint: String,
        link: String,
        stub: Option<String>,
    },
    End {
        owner: Owner,
    },
}

/// The regions of `text` (the contents of `file`, used in messages), or
/// every problem found in it.
pub fn scan(file: &Path, text: &str) -> Result<Vec<Region>, Vec<Error>> {
    let mut regions = Vec::new();
    let mut errors = Vec::new();
    // The region being read: regions do not nest, so one is enough.
    let mut open: Option<Region> = None;
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let location = Location::new(file, line_number);
        let marker = match parse_marker(line, &location) {
            Ok(Some(marker)) => marker,
            Ok(None) => continue,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        match marker {
            Marker::Begin {
                owner,
                hint,
                link,
                stub,
            } => {
                if let Some(outer) = &open {
                    errors.push(Error::Nested {
                        location,
                        inner: owner.marker_name(),
                        outer: outer.owner.marker_name(),
                        outer_line: outer.begin_line,
                    });
                    continue;
                }
                open = Some(Region {
                    owner,
                    begin_line: line_number,
                    end_line: 0,
                    hint,
                    link,
                    stub,
                });
            }
            Marker::End { owner } => match open.take() {
                None => errors.push(Error::EndWithoutBegin {
                    location,
                    what: owner.marker_name(),
                }),
                Some(region) if !region.owner.is_closed_by(owner) => {
                    errors.push(Error::MismatchedEnd {
                        location,
                        found: owner.marker_name(),
                        open: region.owner.marker_name(),
                        open_line: region.begin_line,
                    })
                }
                Some(mut region) => {
                    region.end_line = line_number;
                    regions.push(region);
                }
            },
        }
    }
    if let Some(region) = open {
        errors.push(Error::BeginWithoutEnd {
            location: Location::new(file, region.begin_line),
            what: region.owner.marker_name(),
        });
    }
    if errors.is_empty() {
        Ok(regions)
    } else {
        Err(errors)
    }
}

/// A needs-labs marker, after its `// needs labs` prefix:
/// ` 2AA, 2AB: begin — why` or `: end`.
fn parse_needs_marker(rest: &str, location: &Location) -> Result<Marker, Error> {
    let malformed = |reason: &str| Error::MalformedMarker {
        location: location.clone(),
        reason: reason.to_string(),
        text: format!("{NEEDS_PREFIX}{rest}"),
    };
    if rest == ": end" {
        return Ok(Marker::End {
            owner: Owner::NeedsLabs(LabSet::default()),
        });
    }
    let Some((names, action)) = rest.split_once(':') else {
        return Err(malformed(
            "expected '// needs labs <LAB>, <LAB>: begin — why' or '// needs labs: end'",
        ));
    };
    let mut labs = LabSet::default();
    for name in names.split([',', ' ']).filter(|name| !name.is_empty()) {
        let lab = Lab::from_marker(name).ok_or_else(|| Error::UnknownLab {
            location: location.clone(),
            name: name.to_string(),
            known: Lab::all_names(),
        })?;
        labs.insert(lab);
    }
    if labs.is_empty() {
        return Err(malformed("a begin marker names the labs the tests need"));
    }
    let Some(why) = action
        .strip_prefix(" begin ")
        .and_then(|after| after.trim_start().strip_prefix(HINT_SEPARATOR))
    else {
        return Err(malformed("expected 'begin — why' after the labs"));
    };
    if why.trim().is_empty() {
        return Err(malformed("say why the tests need the labs"));
    }
    Ok(Marker::Begin {
        owner: Owner::NeedsLabs(labs),
        hint: why.trim().to_string(),
        link: String::new(),
        stub: None,
    })
}

/// The marker on `line`, `None` for any other line.
fn parse_marker(line: &str, location: &Location) -> Result<Option<Marker>, Error> {
    let trimmed = line.trim();
    let malformed = |reason: &str| Error::MalformedMarker {
        location: location.clone(),
        reason: reason.to_string(),
        text: trimmed.to_string(),
    };
    if let Some(rest) = trimmed.strip_prefix(STAFF_PREFIX) {
        return if rest == ": end" {
            Ok(Some(Marker::End {
                owner: Owner::StaffOnly,
            }))
        } else if rest == ": begin" || rest.starts_with(": begin ") {
            Ok(Some(Marker::Begin {
                owner: Owner::StaffOnly,
                hint: String::new(),
                link: String::new(),
                stub: None,
            }))
        } else {
            Err(malformed(
                "expected '// staff-only: begin …' or '// staff-only: end'",
            ))
        };
    }
    if let Some(rest) = trimmed.strip_prefix(NEEDS_PREFIX) {
        return parse_needs_marker(rest, location).map(Some);
    }
    let Some(rest) = trimmed.strip_prefix(LAB_PREFIX) else {
        return Ok(None);
    };
    let Some((name, action)) = rest.split_once(':') else {
        return Err(malformed(
            "expected '// lab <LAB>: begin …' or '// lab <LAB>: end'",
        ));
    };
    let lab = Lab::from_marker(name).ok_or_else(|| Error::UnknownLab {
        location: location.clone(),
        name: name.to_string(),
        known: Lab::all_names(),
    })?;
    let owner = Owner::Lab(lab);
    if action == " end" {
        return Ok(Some(Marker::End { owner }));
    }
    let Some(after_begin) = action.strip_prefix(" begin ") else {
        return Err(malformed(
            "expected 'begin [stub: …] — hint (docs/labs/….md#anchor)' or 'end' after the lab",
        ));
    };
    let (stub, after_stub) = split_stub_option(after_begin).map_err(|reason| malformed(&reason))?;
    let Some(hint_and_link) = after_stub.trim_start().strip_prefix(HINT_SEPARATOR) else {
        return Err(malformed("expected '— ' (an em dash) before the hint"));
    };
    let Some(without_paren) = hint_and_link.strip_suffix(')') else {
        return Err(malformed(
            "the hint must end with the handout link in parentheses",
        ));
    };
    let Some((hint, link)) = without_paren.rsplit_once(" (") else {
        return Err(malformed(
            "the hint must end with the handout link in parentheses",
        ));
    };
    if hint.trim().is_empty() {
        return Err(malformed("the hint is empty"));
    }
    if !link.starts_with("docs/labs/") || !link.contains(".md#") {
        return Err(malformed(
            "the link must be docs/labs/<handout>.md#<anchor>",
        ));
    }
    Ok(Some(Marker::Begin {
        owner,
        hint: hint.trim().to_string(),
        link: link.to_string(),
        stub,
    }))
}

/// Splits a leading `[stub: CODE]` off the rest of a begin marker.
/// Brackets inside CODE nest (`vec![]`); brackets in string literals do
/// not count.
fn split_stub_option(text: &str) -> Result<(Option<String>, &str), String> {
    let Some(option) = text.strip_prefix("[stub:") else {
        if text.starts_with('[') {
            return Err("the only option is '[stub: CODE]'".to_string());
        }
        return Ok((None, text));
    };
    let mut depth = 1;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, character) in option.char_indices() {
        if in_string {
            match character {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match character {
            '"' => in_string = true,
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    let code = option[..offset].trim().to_string();
                    return Ok((Some(code), &option[offset + 1..]));
                }
            }
            _ => {}
        }
    }
    Err("the '[stub: …]' option is not closed by ']'".to_string())
}

/// Checks a marker's handout link against the tree rooted at `root`: the
/// handout exists and has a heading with `{#anchor}`.
pub fn check_link(root: &Path, link: &str) -> Result<(), String> {
    let Some((file, anchor)) = link.split_once('#') else {
        return Err("it has no #anchor".to_string());
    };
    let path = root.join(file);
    let handout = std::fs::read_to_string(&path)
        .map_err(|error| format!("{} cannot be read: {error}", path.display()))?;
    let wanted = format!("{{#{anchor}}}");
    let found = handout
        .lines()
        .any(|line| line.starts_with('#') && line.trim_end().ends_with(&wanted));
    if found {
        Ok(())
    } else {
        Err(format!("{file} has no heading ending in {wanted}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_text(text: &str) -> Result<Vec<Region>, Vec<Error>> {
        scan(Path::new("src/x.rs"), text)
    }

    fn single_error(text: &str) -> String {
        match scan_text(text) {
            Ok(regions) => panic!("expected an error, got {regions:?}"),
            Err(errors) => {
                assert_eq!(errors.len(), 1, "{errors:?}");
                errors[0].to_string()
            }
        }
    }

    #[test]
    fn reads_a_region_with_hint_link_and_stub() {
        let text = "fn a() {}\n\
                    // lab 2C: begin [stub: Err(Error::Other(\"lab [2C]\".into()))] — make it (docs/labs/lab2c.md#gen)\n\
                    fn b() {}\n\
                    // lab 2C: end\n";
        let regions = scan_text(text).unwrap();
        assert_eq!(
            regions,
            vec![Region {
                owner: Owner::Lab(Lab::TwoC),
                begin_line: 2,
                end_line: 4,
                hint: "make it".to_string(),
                link: "docs/labs/lab2c.md#gen".to_string(),
                stub: Some("Err(Error::Other(\"lab [2C]\".into()))".to_string()),
            }]
        );
    }

    #[test]
    fn an_empty_stub_option_is_an_empty_body() {
        let text = "// lab 1: begin [stub: ] — h (docs/labs/lab1.md#a)\nfn b() {}\n// lab 1: end\n";
        assert_eq!(scan_text(text).unwrap()[0].stub, Some(String::new()));
    }

    #[test]
    fn staff_only_regions_need_no_hint() {
        let text = "// staff-only: begin — held out\nmod hidden;\n// staff-only: end\n";
        let regions = scan_text(text).unwrap();
        assert_eq!(regions[0].owner, Owner::StaffOnly);
        assert!(is_staff_only_file("//! staff-only: held-out tests\n"));
        assert!(!is_staff_only_file("//! tests\n// staff-only\n"));
    }

    /// A needs-labs region reads its labs and its reason, and any end
    /// marker of the kind closes it.
    #[test]
    fn needs_labs_regions_name_their_labs_and_why() {
        let text = "// needs labs 2AA, 2AB: begin — drives a whole raft group\nmod prevote;\n// needs labs: end\n";
        let regions = scan_text(text).unwrap();
        let mut labs = LabSet::default();
        labs.insert(Lab::TwoAA);
        labs.insert(Lab::TwoAB);
        assert_eq!(regions[0].owner, Owner::NeedsLabs(labs));
        assert_eq!(regions[0].hint, "drives a whole raft group");
        assert_eq!((regions[0].begin_line, regions[0].end_line), (1, 3));
    }

    /// A needs-labs marker without labs, without a reason or naming an
    /// unknown lab is refused with its line.
    #[test]
    fn malformed_needs_labs_markers_are_refused() {
        // The refused begin leaves its end unmatched: the first error is
        // the begin's.
        let first_error = |text: &str| scan_text(text).unwrap_err()[0].to_string();
        assert!(
            first_error("// needs labs: begin — x\n// needs labs: end\n")
                .starts_with("src/x.rs:1: ")
        );
        assert!(first_error("// needs labs 2B: begin\n// needs labs: end\n")
            .starts_with("src/x.rs:1: "));
        let unknown = first_error("// needs labs 2B, 9Z: begin — x\n// needs labs: end\n");
        assert!(unknown.contains("9Z"), "{unknown}");
    }

    #[test]
    fn nested_regions_are_refused_with_both_lines() {
        let text = "// lab 2B: begin — a (docs/labs/lab2b.md#x)\n\
                    // lab 2C: begin — b (docs/labs/lab2c.md#y)\n\
                    // lab 2C: end\n";
        let errors = scan_text(text).unwrap_err();
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            messages[0].starts_with(
                "src/x.rs:2: 'lab 2C: begin' inside the region of 'lab 2B' opened at line 1"
            ),
            "{messages:?}"
        );
        // The end then closes 2B's region with 2C's name.
        assert!(messages[1].starts_with("src/x.rs:3: 'lab 2C: end' closes the region of 'lab 2B'"));
    }

    #[test]
    fn unbalanced_markers_are_refused() {
        assert!(single_error("fn a() {}\n// lab 1: end\n")
            .starts_with("src/x.rs:2: 'lab 1: end' without a matching begin"));
        assert!(
            single_error("// lab 1: begin — h (docs/labs/lab1.md#a)\nfn a() {}\n")
                .starts_with("src/x.rs:1: 'lab 1: begin' is never closed")
        );
        assert!(single_error("// staff-only: begin\n")
            .starts_with("src/x.rs:1: 'staff-only: begin' is never closed"));
    }

    #[test]
    fn unknown_labs_are_refused() {
        let message = single_error("// lab 5A: begin — h (docs/labs/lab5a.md#a)\n");
        assert!(
            message.starts_with("src/x.rs:1: unknown lab '5A'"),
            "{message}"
        );
        // The handout spelling is required, so grep finds every marker.
        let message = single_error("// lab 2aa: end\n");
        assert!(
            message.starts_with("src/x.rs:1: unknown lab '2aa'"),
            "{message}"
        );
    }

    #[test]
    fn malformed_markers_are_refused() {
        for text in [
            "// lab 2B begin — h (docs/labs/lab2b.md#a)",
            "// lab 2B: begin h (docs/labs/lab2b.md#a)",
            "// lab 2B: begin — h",
            "// lab 2B: begin — h (lab2b.md#a)",
            "// lab 2B: begin [stub: x — h (docs/labs/lab2b.md#a)",
            "// lab 2B: begin [todo] — h (docs/labs/lab2b.md#a)",
            "// lab 2B: begin —  (docs/labs/lab2b.md#a)",
            "// lab 2B: ends",
            "// staff-only begin",
        ] {
            let message = single_error(text);
            assert!(message.contains("malformed marker"), "{text}: {message}");
        }
    }

    #[test]
    fn links_must_name_an_anchored_heading() {
        let root = std::env::temp_dir().join(format!("xtask-links-{}", std::process::id()));
        std::fs::create_dir_all(root.join("docs/labs")).unwrap();
        std::fs::write(
            root.join("docs/labs/lab1.md"),
            "# Lab 1\n\n## The raw API {#raw-api}\n\ntext {#not-a-heading}\n",
        )
        .unwrap();
        assert_eq!(check_link(&root, "docs/labs/lab1.md#raw-api"), Ok(()));
        assert!(check_link(&root, "docs/labs/lab1.md#not-a-heading").is_err());
        assert!(check_link(&root, "docs/labs/lab9.md#raw-api").is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
