//! Replacing the marked regions of one file with stubs.
//!
//! The file is parsed (syn) to see what each region wraps. A region must
//! hold whole elements of one enclosing list, and the innermost such list
//! decides the kind of stub:
//!
//! * **items** (functions, in a module or an `impl`): each function keeps
//!   its doc comment and signature and gets the stub as its body. The
//!   first function of the region, every `pub` one and every function of
//!   a trait `impl` are kept that way; any other function is a
//!   solution-only helper and is removed. Other items stay as they are.
//! * **statements** of a block: the region becomes the stub, a statement
//!   (`todo!(…);`) unless the region ends with the block's tail
//!   expression.
//! * **match arms**: each arm keeps its pattern and gets the stub as its
//!   expression.
//!
//! The stub is the marker's `[stub: CODE]` when it has one, else
//! `todo!("lab 2C: <hint>")`. The marker lines themselves stay, so the
//! student sees where the work goes. Staff-only regions are removed with
//! their markers, and so are needs-labs regions when a lab they need is
//! stubbed (a one-line comment says what was left out and why).

use std::path::Path;

use proc_macro2::LineColumn;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};

use crate::error::{Error, Location, Result};
use crate::lab::{Lab, LabSet};
use crate::markers::{Owner, Region};

/// One stub written into the skeleton, for LABS.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stub {
    pub lab: Lab,
    /// The 1-based line of the begin marker in the rewritten file.
    pub line: usize,
    /// The 1-based line of the begin marker in the original file.
    pub original_line: usize,
    /// The functions it stubs (`Raft::hup`), or the function it sits in.
    pub function: String,
    /// What kind of region it was: "body", "statements in" or "match arms in".
    pub kind: &'static str,
    /// The stub code.
    pub code: String,
    pub hint: String,
    pub link: String,
}

/// A solution-only helper the skeleton leaves out, for LABS.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedHelper {
    pub lab: Lab,
    pub function: String,
}

/// Tests left out because they need a stubbed lab, for LABS.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOutTests {
    /// The labs they need.
    pub labs: LabSet,
    /// The 1-based line of the comment that replaced them, in the output.
    pub line: usize,
    pub why: String,
}

/// A file after rewriting.
#[derive(Debug, Default)]
pub struct Rewritten {
    pub text: String,
    pub stubs: Vec<Stub>,
    pub removed: Vec<RemovedHelper>,
    pub left_out: Vec<LeftOutTests>,
}

/// What one lab region turns into, decided from the parsed file.
#[derive(Debug)]
struct Plan {
    /// The replacement for the region's lines (between the markers).
    replacement: String,
    function: String,
    kind: &'static str,
    removed: Vec<String>,
}

/// Checks every lab region of `text` and returns the file with the regions
/// of the labs `chosen` accepts stubbed and every staff-only region
/// removed. The regions must come from `markers::scan` of the same text.
pub fn rewrite(
    file: &Path,
    text: &str,
    regions: &[Region],
    chosen: &dyn Fn(Lab) -> bool,
) -> Result<Rewritten> {
    let lines = LineIndex::new(text);
    let lab_regions: Vec<&Region> = regions
        .iter()
        .filter(|region| matches!(region.owner, Owner::Lab(_)))
        .collect();
    // Every lab region is checked, chosen or not: a broken marker must be
    // found before the lab is ever stubbed.
    let mut plans = Vec::new();
    if !lab_regions.is_empty() {
        let syntax = syn::parse_file(text).map_err(|error| Error::Parse {
            location: Location::new(file, error.span().start().line),
            message: error.to_string(),
        })?;
        let mut collector = Collector::default();
        collector.visit_file(&syntax);
        let mut errors = Vec::new();
        for region in &lab_regions {
            match plan_region(file, text, &lines, &collector.containers, region) {
                Ok(plan) => plans.push(plan),
                Err(error) => errors.push(error),
            }
        }
        Error::from_list(errors)?;
    }

    // Apply from the last region to the first, so earlier offsets hold.
    let mut output = text.to_string();
    let mut records = Vec::new();
    let mut left_out_regions = Vec::new();
    let mut plans = plans.into_iter().rev();
    for region in regions.iter().rev() {
        match region.owner {
            Owner::StaffOnly => {
                let start = lines.line_start(region.begin_line);
                let end = lines.line_start(region.end_line + 1);
                output.replace_range(start..end, "");
            }
            Owner::NeedsLabs(labs) => {
                if !labs.iter().any(chosen) {
                    continue;
                }
                let start = lines.line_start(region.begin_line);
                let end = lines.line_start(region.end_line + 1);
                let indent: String = text[start..].chars().take_while(|c| *c == ' ').collect();
                // Not marker syntax, so the skeleton's own marker check
                // reads it as an ordinary comment.
                let note = format!(
                    "{indent}// (left out of this skeleton until labs {labs} are done: {})\n",
                    region.hint
                );
                output.replace_range(start..end, &note);
                left_out_regions.push(region);
            }
            Owner::Lab(lab) => {
                let Some(plan) = plans.next() else {
                    continue;
                };
                if !chosen(lab) {
                    continue;
                }
                let start = lines.line_start(region.begin_line + 1);
                let end = lines.line_start(region.end_line);
                output.replace_range(start..end, &plan.replacement);
                records.push((region, plan));
            }
        }
    }
    records.reverse();

    // Line numbers in the output: the begin markers of the stubbed regions,
    // in order (staff-only markers are gone, lab markers all stay).
    let begin_lines: Vec<usize> = output
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let trimmed = line.trim_start();
            trimmed.starts_with("// lab ") && trimmed.contains(": begin")
        })
        .map(|(index, _)| index + 1)
        .collect();
    // And the notes that replaced needs-labs regions, in order.
    let note_lines: Vec<usize> = output
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            line.trim_start()
                .starts_with("// (left out of this skeleton")
        })
        .map(|(index, _)| index + 1)
        .collect();
    left_out_regions.reverse();
    let left_out = left_out_regions
        .iter()
        .zip(note_lines)
        .filter_map(|(region, line)| match region.owner {
            Owner::NeedsLabs(labs) => Some(LeftOutTests {
                labs,
                line,
                why: region.hint.clone(),
            }),
            _ => None,
        })
        .collect();
    let mut rewritten = Rewritten {
        text: output,
        left_out,
        ..Rewritten::default()
    };
    for (region, plan) in records {
        let Owner::Lab(lab) = region.owner else {
            continue;
        };
        let index = lab_regions
            .iter()
            .position(|candidate| candidate.begin_line == region.begin_line)
            .unwrap_or(0);
        rewritten.stubs.push(Stub {
            lab,
            line: begin_lines.get(index).copied().unwrap_or(region.begin_line),
            original_line: region.begin_line,
            function: plan.function,
            kind: plan.kind,
            code: stub_code(lab, region),
            hint: region.hint.clone(),
            link: region.link.clone(),
        });
        rewritten.removed.extend(
            plan.removed
                .into_iter()
                .map(|function| RemovedHelper { lab, function }),
        );
    }
    Ok(rewritten)
}

/// The code that replaces a region: the marker's option, or a `todo!`
/// carrying the hint.
fn stub_code(lab: Lab, region: &Region) -> String {
    match &region.stub {
        Some(code) => code.clone(),
        None => {
            let message = format!("lab {}: {}", lab.name(), region.hint);
            // A format string: braces are doubled, quotes escaped.
            let escaped = message
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('{', "{{")
                .replace('}', "}}");
            format!("todo!(\"{escaped}\")")
        }
    }
}

/// Decides the replacement of one lab region.
fn plan_region(
    file: &Path,
    text: &str,
    lines: &LineIndex,
    containers: &[Container],
    region: &Region,
) -> Result<Plan> {
    let Owner::Lab(lab) = region.owner else {
        return Err(Error::BadRegion {
            location: Location::new(file, region.begin_line),
            lab: "staff-only".to_string(),
            reason: "is not a lab region".to_string(),
        });
    };
    let bad = |reason: &str| Error::BadRegion {
        location: Location::new(file, region.begin_line),
        lab: lab.to_string(),
        reason: reason.to_string(),
    };
    let (first, last) = (region.begin_line, region.end_line);
    let inside = |element: &Element| element.start.line > first && element.end.line < last;
    let outside = |element: &Element| element.end.line < first || element.start.line > last;
    // The innermost list that spans the region and whose elements are
    // each wholly inside or wholly outside it, with at least one inside.
    let container = containers
        .iter()
        .filter(|container| container.open.line <= first && container.close.line >= last)
        .filter(|container| {
            container
                .elements
                .iter()
                .all(|element| inside(element) || outside(element))
                && container.elements.iter().any(inside)
        })
        .min_by_key(|container| container.close.line - container.open.line)
        .ok_or_else(|| {
            bad("does not wrap whole items, statements or match arms of one block (or wraps none)")
        })?;
    let members: Vec<&Element> = container.elements.iter().filter(|e| inside(e)).collect();
    let code = stub_code(lab, region);
    let region_start = lines.line_start(first + 1);
    let region_end = lines.line_start(last);
    match &container.kind {
        ContainerKind::Items { trait_impl, owner } => {
            let qualify = |name: &str| match owner {
                Some(owner) => format!("{owner}::{name}"),
                None => name.to_string(),
            };
            let mut replacement = String::new();
            let mut cursor = region_start;
            let mut kept = Vec::new();
            let mut removed = Vec::new();
            for element in members {
                let start = lines.offset(element.start);
                let end = lines.offset(element.end);
                let gap = &text[cursor..start];
                cursor = end;
                let ElementDetail::Function {
                    name,
                    public,
                    body_open,
                } = &element.detail
                else {
                    replacement.push_str(gap);
                    replacement.push_str(&text[start..end]);
                    continue;
                };
                let used_elsewhere = || {
                    used_outside(
                        text,
                        lines.line_start(first),
                        lines.line_start(last + 1),
                        name,
                    )
                };
                if !kept.is_empty() && !*public && !*trait_impl && !used_elsewhere() {
                    // A helper only the region's own code calls: gone, with
                    // the blank lines and comments before it.
                    removed.push(qualify(name));
                    continue;
                }
                kept.push(qualify(name));
                let indent = lines.indentation(element.start.line);
                replacement.push_str(gap);
                replacement.push_str(&text[start..lines.offset(*body_open)]);
                if code.is_empty() {
                    replacement.push_str("{}");
                } else {
                    replacement.push_str(&format!("{{\n{indent}    {code}\n{indent}}}"));
                }
            }
            replacement.push_str(&text[cursor..region_end]);
            if kept.is_empty() {
                return Err(bad("wraps items but no function to stub"));
            }
            Ok(Plan {
                replacement,
                function: kept.join(", "),
                kind: "body",
                removed,
            })
        }
        ContainerKind::Statements => {
            let first_member = members.first().map(|e| e.start.line).unwrap_or(first + 1);
            let indent = lines.indentation(first_member);
            let tail = members
                .last()
                .is_some_and(|e| matches!(e.detail, ElementDetail::Statement { tail: true }));
            let terminator = if tail || region.stub.is_some() {
                ""
            } else {
                ";"
            };
            // An empty stub leaves the statements out altogether.
            let replacement = if code.is_empty() {
                String::new()
            } else {
                format!("{indent}{code}{terminator}\n")
            };
            Ok(Plan {
                replacement,
                function: container.function.clone(),
                kind: "statements in",
                removed: Vec::new(),
            })
        }
        ContainerKind::Arms => {
            let mut replacement = String::new();
            for element in members {
                let ElementDetail::Arm { arrow_end } = element.detail else {
                    continue;
                };
                let indent = lines.indentation(element.start.line);
                let head = &text[lines.offset(element.start)..lines.offset(arrow_end)];
                let body = if code.is_empty() { "{}" } else { code.as_str() };
                replacement.push_str(&format!("{indent}{head} {body},\n"));
            }
            Ok(Plan {
                replacement,
                function: container.function.clone(),
                kind: "match arms in",
                removed: Vec::new(),
            })
        }
    }
}

/// Whether the function `name` is used in `text` outside the byte range
/// `[start, end)`: called (`name(`, `name::<`) or named as a path or
/// method (`Self::name`, `.name`). A mention in a comment is not a use.
fn used_outside(text: &str, start: usize, end: usize, name: &str) -> bool {
    let is_identifier = |character: char| character.is_alphanumeric() || character == '_';
    [&text[..start], &text[end..]].iter().any(|part| {
        part.match_indices(name).any(|(offset, _)| {
            let before = part[..offset].chars().next_back();
            let rest = &part[offset + name.len()..];
            if before.is_some_and(is_identifier) || rest.starts_with(is_identifier) {
                return false;
            }
            let called = rest.trim_start().starts_with('(') || rest.starts_with("::<");
            let named = before.is_some_and(|character| character == '.' || character == ':');
            called || named
        })
    })
}

/// A list of syntax elements a region may wrap part of.
#[derive(Debug)]
struct Container {
    /// Where the list's delimiters are (the whole file for the top level).
    open: LineColumn,
    close: LineColumn,
    kind: ContainerKind,
    elements: Vec<Element>,
    /// The function the list is in (`Type::name`), for statements and arms.
    function: String,
}

#[derive(Debug)]
enum ContainerKind {
    /// Items of a file, module, trait or impl; `owner` is the impl's type.
    Items {
        trait_impl: bool,
        owner: Option<String>,
    },
    Statements,
    Arms,
}

#[derive(Debug)]
struct Element {
    /// From the first attribute or doc comment to the last token.
    start: LineColumn,
    end: LineColumn,
    detail: ElementDetail,
}

#[derive(Debug)]
enum ElementDetail {
    Function {
        name: String,
        public: bool,
        /// The `{` of the body.
        body_open: LineColumn,
    },
    OtherItem,
    Statement {
        /// The block's tail expression (no semicolon).
        tail: bool,
    },
    Arm {
        /// Just after the `=>`.
        arrow_end: LineColumn,
    },
}

/// Collects every item list, block and match of a file.
#[derive(Default)]
struct Collector {
    containers: Vec<Container>,
    /// The impl being visited: its type, and whether it implements a trait.
    impls: Vec<(Option<String>, bool)>,
    /// The functions being visited, innermost last.
    functions: Vec<String>,
}

impl Collector {
    /// Records a list delimited by `braces`.
    fn push(
        &mut self,
        braces: &proc_macro2::extra::DelimSpan,
        kind: ContainerKind,
        elements: Vec<Element>,
        function: String,
    ) {
        self.containers.push(Container {
            open: braces.open().start(),
            close: braces.close().end(),
            kind,
            elements,
            function,
        });
    }

    /// Records the items of an impl or trait and enters it: the functions
    /// visited until the matching `impls.pop()` belong to `owner`.
    fn enter_items(
        &mut self,
        braces: &proc_macro2::extra::DelimSpan,
        owner: Option<String>,
        trait_impl: bool,
        elements: Vec<Element>,
    ) {
        let kind = ContainerKind::Items {
            trait_impl,
            owner: owner.clone(),
        };
        self.push(braces, kind, elements, String::new());
        self.impls.push((owner, trait_impl));
    }

    fn current_function(&self) -> String {
        self.functions.last().cloned().unwrap_or_default()
    }

    fn qualified(&self, name: &syn::Ident) -> String {
        match self.impls.last() {
            Some((Some(owner), _)) => format!("{owner}::{name}"),
            _ => name.to_string(),
        }
    }
}

fn element<T: Spanned>(node: &T, detail: ElementDetail) -> Element {
    let span = node.span();
    Element {
        start: span.start(),
        end: span.end(),
        detail,
    }
}

fn is_public(visibility: &syn::Visibility) -> bool {
    !matches!(visibility, syn::Visibility::Inherited)
}

/// The name of an impl's self type (`Raft` for `impl<T> Raft<T>`).
fn type_name(self_type: &syn::Type) -> Option<String> {
    match self_type {
        syn::Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// The detail of a function with a body.
fn function_detail(signature: &syn::Signature, public: bool, body: &syn::Block) -> ElementDetail {
    ElementDetail::Function {
        name: signature.ident.to_string(),
        public,
        body_open: body.brace_token.span.open().start(),
    }
}

fn item_element(item: &syn::Item) -> Element {
    let detail = match item {
        syn::Item::Fn(function) => {
            function_detail(&function.sig, is_public(&function.vis), &function.block)
        }
        _ => ElementDetail::OtherItem,
    };
    element(item, detail)
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_file(&mut self, node: &'ast syn::File) {
        self.containers.push(Container {
            open: LineColumn { line: 0, column: 0 },
            close: LineColumn {
                line: usize::MAX,
                column: 0,
            },
            kind: ContainerKind::Items {
                trait_impl: false,
                owner: None,
            },
            elements: node.items.iter().map(item_element).collect(),
            function: String::new(),
        });
        visit::visit_file(self, node);
    }

    fn visit_item_mod(&mut self, node: &'ast syn::ItemMod) {
        if let Some((brace, items)) = &node.content {
            let kind = ContainerKind::Items {
                trait_impl: false,
                owner: None,
            };
            let elements = items.iter().map(item_element).collect();
            self.push(&brace.span, kind, elements, String::new());
        }
        visit::visit_item_mod(self, node);
    }

    fn visit_item_impl(&mut self, node: &'ast syn::ItemImpl) {
        let owner = type_name(&node.self_ty);
        let trait_impl = node.trait_.is_some();
        let elements = node
            .items
            .iter()
            .map(|item| {
                let detail = match item {
                    syn::ImplItem::Fn(function) => {
                        function_detail(&function.sig, is_public(&function.vis), &function.block)
                    }
                    _ => ElementDetail::OtherItem,
                };
                element(item, detail)
            })
            .collect();
        self.enter_items(&node.brace_token.span, owner, trait_impl, elements);
        visit::visit_item_impl(self, node);
        self.impls.pop();
    }

    fn visit_item_trait(&mut self, node: &'ast syn::ItemTrait) {
        let elements = node
            .items
            .iter()
            .map(|item| {
                let detail = match item {
                    // Trait methods are as visible as the trait.
                    syn::TraitItem::Fn(function) => match &function.default {
                        Some(block) => function_detail(&function.sig, true, block),
                        None => ElementDetail::OtherItem,
                    },
                    _ => ElementDetail::OtherItem,
                };
                element(item, detail)
            })
            .collect();
        let owner = Some(node.ident.to_string());
        self.enter_items(&node.brace_token.span, owner, true, elements);
        visit::visit_item_trait(self, node);
        self.impls.pop();
    }

    fn visit_item_fn(&mut self, node: &'ast syn::ItemFn) {
        self.functions.push(node.sig.ident.to_string());
        visit::visit_item_fn(self, node);
        self.functions.pop();
    }

    fn visit_impl_item_fn(&mut self, node: &'ast syn::ImplItemFn) {
        let name = self.qualified(&node.sig.ident);
        self.functions.push(name);
        visit::visit_impl_item_fn(self, node);
        self.functions.pop();
    }

    fn visit_trait_item_fn(&mut self, node: &'ast syn::TraitItemFn) {
        let name = self.qualified(&node.sig.ident);
        self.functions.push(name);
        visit::visit_trait_item_fn(self, node);
        self.functions.pop();
    }

    fn visit_block(&mut self, node: &'ast syn::Block) {
        let last = node.stmts.len().saturating_sub(1);
        let elements = node
            .stmts
            .iter()
            .enumerate()
            .map(|(index, statement)| {
                // A block-like expression (`if`, `match`) needs no semicolon
                // in the middle of a block: only the last one is the tail.
                let tail = index == last && matches!(statement, syn::Stmt::Expr(_, None));
                element(statement, ElementDetail::Statement { tail })
            })
            .collect();
        self.push(
            &node.brace_token.span,
            ContainerKind::Statements,
            elements,
            self.current_function(),
        );
        visit::visit_block(self, node);
    }

    fn visit_expr_match(&mut self, node: &'ast syn::ExprMatch) {
        let elements = node
            .arms
            .iter()
            .map(|arm| {
                let arrow_end = arm.fat_arrow_token.spans[1].end();
                element(arm, ElementDetail::Arm { arrow_end })
            })
            .collect();
        self.push(
            &node.brace_token.span,
            ContainerKind::Arms,
            elements,
            self.current_function(),
        );
        visit::visit_expr_match(self, node);
    }
}

/// Line starts of a text, to turn (line, column) into byte offsets.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> LineIndex<'a> {
        let mut starts = vec![0];
        starts.extend(
            text.char_indices()
                .filter(|(_, character)| *character == '\n')
                .map(|(offset, _)| offset + 1),
        );
        LineIndex { text, starts }
    }

    /// The byte offset where 1-based `line` starts (the text's end past
    /// the last line).
    fn line_start(&self, line: usize) -> usize {
        self.starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(self.text.len())
    }

    /// The byte offset of a span position (its column counts characters).
    fn offset(&self, position: LineColumn) -> usize {
        let start = self.line_start(position.line);
        let line = &self.text[start..];
        start
            + line
                .char_indices()
                .nth(position.column)
                .map_or(line.len(), |(offset, _)| offset)
    }

    /// The leading whitespace of 1-based `line`.
    fn indentation(&self, line: usize) -> &'a str {
        let start = self.line_start(line);
        let rest = &self.text[start..];
        let width = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        &rest[..width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markers;

    /// Asserts `text` contains `expected`, showing the whole text if not.
    fn assert_contains(text: &str, expected: &str) {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }

    fn stub_all(text: &str) -> Result<Rewritten> {
        let file = Path::new("src/x.rs");
        let regions = markers::scan(file, text).map_err(Error::Many)?;
        rewrite(file, text, &regions, &|_| true)
    }

    #[test]
    fn a_function_body_becomes_todo_in_expression_position() {
        let text = "\
impl Raft {
    // lab 2AA: begin — count the votes {quorum} (docs/labs/lab2a.md#election)
    /// Counts votes.
    pub fn poll(&mut self, id: u64) -> VoteResult {
        let granted = self.votes.len();
        if granted > 1 { VoteResult::Won } else { VoteResult::Pending }
    }

    fn helper(&self) -> usize {
        1
    }
    // lab 2AA: end
}
";
        let rewritten = stub_all(text).unwrap();
        assert_eq!(
            rewritten.text,
            "\
impl Raft {
    // lab 2AA: begin — count the votes {quorum} (docs/labs/lab2a.md#election)
    /// Counts votes.
    pub fn poll(&mut self, id: u64) -> VoteResult {
        todo!(\"lab 2AA: count the votes {{quorum}}\")
    }
    // lab 2AA: end
}
"
        );
        assert_eq!(rewritten.stubs.len(), 1);
        assert_eq!(rewritten.stubs[0].function, "Raft::poll");
        assert_eq!(rewritten.stubs[0].line, 2);
        assert_eq!(
            rewritten.removed,
            vec![RemovedHelper {
                lab: Lab::TwoAA,
                function: "Raft::helper".to_string()
            }]
        );
    }

    #[test]
    fn a_private_function_called_outside_the_region_is_kept() {
        let text = "\
/// Every step may campaign.
impl Raft {
    fn step(&mut self) {
        self.campaign();
    }

    // poll is only mentioned here, never called.

    // lab 2AA: begin — elect (docs/labs/lab2a.md#election)
    fn hup(&mut self) {
        self.campaign();
    }

    fn campaign(&mut self) {}

    fn poll(&mut self) {}
    // lab 2AA: end
}
";
        let rewritten = stub_all(text).unwrap();
        assert_eq!(rewritten.stubs[0].function, "Raft::hup, Raft::campaign");
        assert_eq!(rewritten.removed[0].function, "Raft::poll");
    }

    #[test]
    fn an_if_in_the_middle_of_a_block_is_not_its_tail() {
        let text = "\
fn step(&mut self, m: Message) -> Result<()> {
    // lab 2AA: begin — terms (docs/labs/lab2a.md#terms)
    if m.term > self.term {
        self.become_follower(m.term);
    }
    // lab 2AA: end
    match m.kind {
        _ => Ok(()),
    }
}
";
        let rewritten = stub_all(text).unwrap();
        assert!(
            rewritten.text.contains("    todo!(\"lab 2AA: terms\");\n"),
            "{}",
            rewritten.text
        );
    }

    #[test]
    fn trait_impl_and_public_functions_are_all_kept() {
        let text = "\
impl Storage for Standalone {
    // lab 1: begin — write and read (docs/labs/lab1.md#storage)
    fn write(&self) -> Result<()> {
        Ok(())
    }

    fn reader(&self) -> Result<Reader> {
        Ok(Reader)
    }
    // lab 1: end
}
";
        let rewritten = stub_all(text).unwrap();
        assert_eq!(
            rewritten.stubs[0].function,
            "Standalone::write, Standalone::reader"
        );
        assert!(rewritten.removed.is_empty());
        assert_eq!(
            rewritten
                .text
                .matches("todo!(\"lab 1: write and read\")")
                .count(),
            2
        );
    }

    #[test]
    fn a_stub_option_replaces_the_body() {
        let text = "\
// lab 2C: begin [stub: Err(Error::Other(\"lab 2C\".into()))] — generate it (docs/labs/lab2c.md#gen)
fn generate(task: Task) -> Result<()> {
    task.run()?;
    Ok(())
}
// lab 2C: end
";
        let rewritten = stub_all(text).unwrap();
        assert!(rewritten.text.contains(
            "fn generate(task: Task) -> Result<()> {\n    Err(Error::Other(\"lab 2C\".into()))\n}\n// lab 2C: end"
        ));
    }

    #[test]
    fn statements_in_the_middle_of_a_block_become_a_todo_statement() {
        let text = "\
fn handle(&mut self) -> Result<()> {
    let a = 1;
    // lab 2B: begin — persist first (docs/labs/lab2b.md#ready)
    self.persist(a)?;
    self.send();
    // lab 2B: end
    self.advance();
    Ok(())
}
";
        let rewritten = stub_all(text).unwrap();
        assert_contains(&rewritten.text, "    // lab 2B: begin — persist first (docs/labs/lab2b.md#ready)\n    todo!(\"lab 2B: persist first\");\n    // lab 2B: end\n    self.advance();");
        assert_eq!(rewritten.stubs[0].function, "handle");
        assert_eq!(rewritten.stubs[0].kind, "statements in");
    }

    #[test]
    fn a_tail_expression_stays_an_expression() {
        let text = "\
fn value(&self) -> u64 {
    let a = 1;
    // lab 2B: begin — compute (docs/labs/lab2b.md#ready)
    a + self.b
    // lab 2B: end
}
";
        let rewritten = stub_all(text).unwrap();
        assert!(rewritten
            .text
            .contains("    todo!(\"lab 2B: compute\")\n    // lab 2B: end"));
    }

    #[test]
    fn match_arms_keep_their_patterns() {
        let text = "\
fn step(&mut self, m: Message) -> Result<()> {
    match m.kind {
        Kind::A => self.a(),
        // lab 3A: begin [stub: Ok(())] — transfer (docs/labs/lab3a.md#transfer)
        Kind::Transfer if self.ok() => {
            self.transfer(&m);
            Ok(())
        }
        Kind::TimeoutNow => self.hup(),
        // lab 3A: end
        _ => Ok(()),
    }
}
";
        let rewritten = stub_all(text).unwrap();
        assert_contains(&rewritten.text, "        Kind::Transfer if self.ok() => Ok(()),\n        Kind::TimeoutNow => Ok(()),\n        // lab 3A: end");
    }

    #[test]
    fn an_empty_stub_is_an_empty_body_arm_or_nothing() {
        let text = "\
impl Raft {
    // lab 3A: begin [stub: ] — transfer (docs/labs/lab3a.md#t)
    fn handle_transfer_leader(&mut self) {
        self.lead_transferee = None;
    }
    // lab 3A: end

    fn step(&mut self, m: Message) {
        match m.kind {
            // lab 3A: begin [stub: ] — timeout now (docs/labs/lab3a.md#t)
            Kind::TimeoutNow => self.hup(),
            // lab 3A: end
            _ => {}
        }
        // lab 3A: begin [stub: ] — checks (docs/labs/lab3a.md#t)
        if self.busy() {
            return;
        }
        // lab 3A: end
        self.go();
    }
}
";
        let rewritten = stub_all(text).unwrap();
        assert!(rewritten
            .text
            .contains("fn handle_transfer_leader(&mut self) {}\n"));
        assert!(rewritten.text.contains("Kind::TimeoutNow => {},\n"));
        assert!(rewritten.text.contains(
            "// lab 3A: begin [stub: ] — checks (docs/labs/lab3a.md#t)\n        // lab 3A: end\n"
        ));
    }

    #[test]
    fn a_region_cutting_a_statement_is_refused() {
        let text = "\
fn f() {
    let x = compute(
        // lab 2B: begin — half (docs/labs/lab2b.md#ready)
        1,
    );
    // lab 2B: end
}
";
        let message = stub_all(text).unwrap_err().to_string();
        assert!(
            message.starts_with("src/x.rs:3: the region of lab 2B does not wrap whole items"),
            "{message}"
        );
    }

    #[test]
    fn a_region_of_only_comments_is_refused() {
        let text = "fn f() {\n    // lab 1: begin — h (docs/labs/lab1.md#a)\n    // nothing\n    // lab 1: end\n    g();\n}\n";
        assert!(stub_all(text).is_err());
    }

    #[test]
    fn unchosen_labs_stay_solved_and_staff_only_regions_go() {
        let text = "\
// staff-only: begin — held out
mod hidden;
// staff-only: end
// lab 4A: begin — later (docs/labs/lab4a.md#x)
fn later() -> u64 {
    4
}
// lab 4A: end
";
        let file = Path::new("src/x.rs");
        let regions = markers::scan(file, text).unwrap();
        let rewritten = rewrite(file, text, &regions, &|lab| lab == Lab::One).unwrap();
        assert_eq!(
            rewritten.text,
            "// lab 4A: begin — later (docs/labs/lab4a.md#x)\nfn later() -> u64 {\n    4\n}\n// lab 4A: end\n"
        );
        assert!(rewritten.stubs.is_empty());
    }

    #[test]
    fn a_broken_region_of_an_unchosen_lab_is_still_refused() {
        let text = "fn f() {\n    g(\n    // lab 4C: begin — h (docs/labs/lab4c.md#a)\n    );\n    // lab 4C: end\n}\n";
        let file = Path::new("src/x.rs");
        let regions = markers::scan(file, text).unwrap();
        assert!(rewrite(file, text, &regions, &|_| false).is_err());
    }
}
