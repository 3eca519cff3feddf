//! What a question says about itself, before any retrieval: is it a crash report, a question
//! about a release date, a commercial request, an incident on the visitor's own system — the
//! kinds of real questions the docs cannot answer however close their nearest page looks — and
//! does it stand alone, or lean on the conversation ("and for arrays?", "what about on
//! Cloudflare?").
//!
//! These are precise surface cues, not a classifier: the confidence (`Engine::confidence`)
//! weighs them together with the retrieval evidence, with coefficients fitted on the bench's
//! tune halves (docs/benchmarks.md).

/// Surface cues of a question the docs are unlikely to answer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cues {
    /// A pasted stack trace or crash output: `at fn (file.js:12:3)`, `Traceback`, `panicked at`,
    /// `npm ERR!`, `Segmentation fault`.
    pub crash: bool,
    /// When something will be released, shipped or merged; an ETA; a roadmap.
    pub release: bool,
    /// Prices, invoices, refunds, hiring, contracts: a person's business, not the docs'.
    pub commercial: bool,
    /// Something is wrong on the visitor's own system right now ("our admin has been throwing
    /// 502s since this morning, can you check?").
    pub incident: bool,
}

impl Cues {
    /// How many cues fired (for the confidence: each one is evidence against answering).
    pub fn count(&self) -> u32 {
        self.crash as u32 + self.release as u32 + self.commercial as u32 + self.incident as u32
    }
}

/// The cues of a question.
pub fn cues(question: &str) -> Cues {
    let lower = question.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|w| !w.is_empty()).collect();
    let has = |w: &str| words.contains(&w);
    let phrase = |p: &str| contains_phrase(&words, p);
    Cues {
        crash: crash(question, &lower),
        release: release(&words, &lower),
        commercial: ["invoice", "invoices", "invoiced", "pricing", "refund", "refunds", "discount", "hiring", "salary", "quote"]
            .iter()
            .any(|w| has(w))
            || phrase("how much does")
            || phrase("how much is")
            || phrase("per month")
            || phrase("purchase order")
            || phrase("po number"),
        incident: incident(&words),
    }
}

/// `a b c` occurs as consecutive words.
fn contains_phrase(words: &[&str], phrase: &str) -> bool {
    let p: Vec<&str> = phrase.split(' ').collect();
    words.windows(p.len()).any(|w| w == p.as_slice())
}

fn crash(raw: &str, lower: &str) -> bool {
    if ["traceback (most recent call last)", "panicked at", "npm err!", "segmentation fault", "core dumped", "unhandled exception"]
        .iter()
        .any(|m| lower.contains(m))
    {
        return true;
    }
    // Two or more stack frames: "at name (path:12:3)" / "at path:12:3" / "File \"x.py\", line 3".
    let frames = raw
        .lines()
        .flat_map(|l| l.split(" at ").skip(1))
        .filter(|f| {
            let f = f.trim().trim_end_matches(')');
            let mut parts = f.rsplit(':');
            let col = parts.next().unwrap_or("");
            let line = parts.next().unwrap_or("");
            !col.is_empty() && col.bytes().all(|b| b.is_ascii_digit()) && !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit())
        })
        .count();
    frames >= 2 || raw.matches("\", line ").count() >= 2
}

fn release(words: &[&str], lower: &str) -> bool {
    if ["release date", "eta for", "what's the eta", "what is the eta", "on the roadmap", "any news on", "any update on", "any updates on"]
        .iter()
        .any(|p| lower.contains(p))
    {
        return true;
    }
    // "when will/is/does … (be) released / shipped / merged / available / out / land"
    let Some(when) = words.iter().position(|w| *w == "when") else {
        return false;
    };
    let rest = &words[when + 1..];
    let window = &rest[..rest.len().min(12)];
    let coming = window.iter().any(|w| {
        matches!(
            *w,
            "released" | "releasing" | "shipped" | "shipping" | "ship" | "merged" | "landed" | "land" | "lands" | "available" | "out"
        )
    }) || window.windows(2).any(|p| matches!(p[0], "next" | "new") && matches!(p[1], "release" | "version" | "major"));
    rest.first().is_some_and(|w| matches!(*w, "will" | "is" | "does" | "do" | "can" | "are" | "would" | "should")) && coming
}

fn incident(words: &[&str]) -> bool {
    let ours = words.iter().any(|w| matches!(*w, "our" | "ours"));
    let since_when = ["since this morning", "since yesterday", "since last night", "since today", "for hours", "since an hour"]
        .iter()
        .any(|p| contains_phrase(words, p));
    let ask_to_look =
        ["can you check", "can you look", "could you check", "could you look", "please check", "please look", "can someone check"]
            .iter()
            .any(|p| contains_phrase(words, p));
    (ours && (since_when || ask_to_look)) || (since_when && ask_to_look)
}

/// Words that open a question that continues the previous one: "and for arrays?", "what about
/// on Cloudflare?", "how about MySQL?", "same for the inbox?".
const CONTINUATIONS: &[&str] = &["and", "also", "or", "but", "plus", "what about", "how about", "same for", "then", "what if", "and if"];

/// Words that point back at something said before.
const ANAPHORS: &[&str] = &["it", "its", "that", "this", "those", "these", "them", "they", "there", "one", "ones", "same"];

/// Whether a question leans on the conversation: it opens with a continuation ("and for
/// arrays?", "what about on Cloudflare?"), or it is short and points back at something
/// ("does it work offline?", "how do I change that?"). `content_terms` is how many search
/// terms the question has of its own (after stop words).
pub fn is_follow_up(question: &str, content_terms: usize) -> bool {
    let lower = question.trim().to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|w| !w.is_empty()).collect();
    if words.is_empty() || words.len() > 14 {
        return false;
    }
    let opens = CONTINUATIONS.iter().any(|c| {
        let n = c.split(' ').count();
        words.len() > n && words[..n].join(" ") == *c
    });
    let points_back = words.iter().any(|w| ANAPHORS.contains(w));
    opens || (points_back && content_terms <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_reports_release_dates_and_business_are_recognised() {
        let trace = "Build fails:\nTypeError: x is undefined\n    at render (/app/src/page.js:12:3)\n    at run (node:internal/x:4:9)";
        assert!(cues(trace).crash);
        assert!(cues("thread 'main' panicked at src/main.rs:3:5").crash);
        assert!(!cues("Why does the build fail at the bundling step?").crash);
        assert!(!cues("The page shows an error at 10:30 every day").crash, "a time is not a stack frame");

        assert!(cues("I have a similar issue. When will the new version be released?").release);
        assert!(cues("Any update on the fix for this?").release);
        assert!(cues("what's the ETA for view transitions in Firefox").release);
        assert!(!cues("When is the release step run in CI?").release, "no release verb after 'when is'");
        assert!(!cues("When does the build output the release notes?").release);
        assert!(cues("When is the next release?").release);
        assert!(cues("when will this be available in the cloud version").release);

        assert!(cues("Can you invoice us in AUD and put our PO number on it?").commercial);
        assert!(cues("How much does managed hosting cost per month?").commercial);
        assert!(!cues("How do I set the price field's default?").commercial);

        assert!(cues("our keystone admin has been throwing 502s since this morning, can you check what's wrong?").incident);
        assert!(cues("Our RDS keeps hitting max connections, can you look at our cluster setup?").incident);
        assert!(!cues("How do I check our deployment's logs?").incident);
        assert_eq!(cues("How do I embed the widget?").count(), 0);
    }

    #[test]
    fn follow_ups_lean_on_the_conversation() {
        assert!(is_follow_up("and for arrays?", 1));
        assert!(is_follow_up("What about on Cloudflare?", 1));
        assert!(is_follow_up("how about MySQL", 1));
        assert!(is_follow_up("Does it work offline?", 2));
        assert!(is_follow_up("how do I change that?", 0));
        assert!(!is_follow_up("How do I embed the widget?", 2));
        assert!(!is_follow_up("Does the widget work offline?", 3), "says what it is about");
        assert!(!is_follow_up("and", 0), "nothing after the continuation");
        assert!(!is_follow_up("", 0));
    }
}
