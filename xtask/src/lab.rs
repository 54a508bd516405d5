//! The labs of the course, in the order students do them.
//!
//! The order matters: a skeleton for lab L keeps every earlier lab solved,
//! and `--from L` stubs L and everything after it. Markers name a lab the
//! way the handouts do (`2AA`, `3B`); the command line also accepts
//! `2aa` and `lab2aa`.

use std::fmt;

/// One lab. The declaration order is the course order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lab {
    One,
    TwoAA,
    TwoAB,
    TwoAC,
    TwoB,
    TwoC,
    ThreeA,
    ThreeB,
    ThreeC,
    FourA,
    FourB,
    FourC,
}

impl Lab {
    /// Every lab, in course order.
    pub const ALL: [Lab; 12] = [
        Lab::One,
        Lab::TwoAA,
        Lab::TwoAB,
        Lab::TwoAC,
        Lab::TwoB,
        Lab::TwoC,
        Lab::ThreeA,
        Lab::ThreeB,
        Lab::ThreeC,
        Lab::FourA,
        Lab::FourB,
        Lab::FourC,
    ];

    /// The name markers and handouts use: `1`, `2AA`, `3B`.
    pub fn name(self) -> &'static str {
        match self {
            Lab::One => "1",
            Lab::TwoAA => "2AA",
            Lab::TwoAB => "2AB",
            Lab::TwoAC => "2AC",
            Lab::TwoB => "2B",
            Lab::TwoC => "2C",
            Lab::ThreeA => "3A",
            Lab::ThreeB => "3B",
            Lab::ThreeC => "3C",
            Lab::FourA => "4A",
            Lab::FourB => "4B",
            Lab::FourC => "4C",
        }
    }

    /// The lab a marker names: exactly the handout's spelling (`2AA`), so
    /// a grep for `lab 2AA:` finds every marker of the lab.
    pub fn from_marker(name: &str) -> Option<Lab> {
        Lab::ALL.into_iter().find(|lab| lab.name() == name)
    }

    /// The lab a command-line argument names: `2aa`, `2AA` or `lab2aa`.
    pub fn from_argument(argument: &str) -> Option<Lab> {
        let trimmed = argument.trim();
        let name = trimmed
            .strip_prefix("lab")
            .or_else(|| trimmed.strip_prefix("LAB"))
            .unwrap_or(trimmed);
        Lab::ALL
            .into_iter()
            .find(|lab| lab.name().eq_ignore_ascii_case(name))
    }

    /// Every lab name, for error messages.
    pub fn all_names() -> String {
        Lab::ALL
            .iter()
            .map(|lab| lab.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Lab {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "lab {}", self.name())
    }
}

/// A set of labs, in course order: the labs a `// needs labs …` region
/// depends on. Small and `Copy`, like the `Lab` it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabSet {
    /// Bit `i` stands for `Lab::ALL[i]`.
    bits: u16,
}

impl LabSet {
    pub fn insert(&mut self, lab: Lab) {
        self.bits |= 1 << lab as u16;
    }

    pub fn contains(self, lab: Lab) -> bool {
        self.bits & (1 << lab as u16) != 0
    }

    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// The labs of the set, in course order.
    pub fn iter(self) -> impl Iterator<Item = Lab> {
        Lab::ALL.into_iter().filter(move |lab| self.contains(*lab))
    }
}

impl fmt::Display for LabSet {
    /// `2AA, 2AB`: the spelling of the marker and the handouts.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Lab::name).collect();
        formatter.write_str(&names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_order_is_declaration_order() {
        assert!(Lab::One < Lab::TwoAA);
        assert!(Lab::TwoAC < Lab::TwoB);
        assert!(Lab::ThreeC < Lab::FourA);
        let mut sorted = Lab::ALL;
        sorted.sort();
        assert_eq!(sorted, Lab::ALL);
    }

    #[test]
    fn markers_use_the_handout_spelling_and_arguments_any_case() {
        assert_eq!(Lab::from_marker("2AA"), Some(Lab::TwoAA));
        assert_eq!(Lab::from_marker("2aa"), None);
        assert_eq!(Lab::from_marker("5A"), None);
        assert_eq!(Lab::from_argument("2aa"), Some(Lab::TwoAA));
        assert_eq!(Lab::from_argument("lab2c"), Some(Lab::TwoC));
        assert_eq!(Lab::from_argument("4C"), Some(Lab::FourC));
        assert_eq!(Lab::from_argument("2"), None);
    }

    /// A set ignores duplicates and lists its labs in course order.
    #[test]
    fn a_lab_set_holds_its_labs_in_course_order() {
        let mut set = LabSet::default();
        assert!(set.is_empty());
        set.insert(Lab::FourC);
        set.insert(Lab::TwoAA);
        set.insert(Lab::TwoAA);
        assert!(set.contains(Lab::TwoAA) && set.contains(Lab::FourC));
        assert!(!set.contains(Lab::TwoB));
        assert_eq!(set.iter().collect::<Vec<_>>(), [Lab::TwoAA, Lab::FourC]);
        assert_eq!(set.to_string(), "2AA, 4C");
    }
}
