//! The 67 BLiMP paradigms (Warstadt et al., 2020), one `.jsonl` file each, with the facts every
//! file repeats on each line (`field`, `linguistics_term`) and the 12 phenomenon groups of the
//! BLiMP paper that the study reports, so results that carry only a paradigm name (the study's
//! lowercased task names among them) still find their phenomenon.

/// Every BLiMP paradigm name, sorted.
pub const BLIMP_PARADIGMS: [&str; 67] = {
    let mut names = [""; 67];
    let mut i = 0;
    while i < 67 {
        names[i] = PARADIGM_FACTS[i].0;
        i += 1;
    }
    names
};

/// Each paradigm's `(UID, field, linguistics_term)` as its file states them, sorted by UID.
pub const PARADIGM_FACTS: [(&str, &str, &str); 67] = [
    ("adjunct_island", "syntax", "island_effects"),
    (
        "anaphor_gender_agreement",
        "morphology",
        "anaphor_agreement",
    ),
    (
        "anaphor_number_agreement",
        "morphology",
        "anaphor_agreement",
    ),
    ("animate_subject_passive", "syntax", "s-selection"),
    ("animate_subject_trans", "syntax", "s-selection"),
    ("causative", "syntax", "argument_structure"),
    ("complex_NP_island", "syntax", "island_effects"),
    (
        "coordinate_structure_constraint_complex_left_branch",
        "syntax",
        "island_effects",
    ),
    (
        "coordinate_structure_constraint_object_extraction",
        "syntax",
        "island_effects",
    ),
    (
        "determiner_noun_agreement_1",
        "morphology",
        "determiner_noun_agreement",
    ),
    (
        "determiner_noun_agreement_2",
        "morphology",
        "determiner_noun_agreement",
    ),
    (
        "determiner_noun_agreement_irregular_1",
        "morphology",
        "determiner_noun_agreement",
    ),
    (
        "determiner_noun_agreement_irregular_2",
        "morphology",
        "determiner_noun_agreement",
    ),
    (
        "determiner_noun_agreement_with_adj_2",
        "morphology",
        "determiner_noun_agreement",
    ),
    (
        "determiner_noun_agreement_with_adj_irregular_1",
        "morphology",
        "determiner_noun_agreement",
    ),
    (
        "determiner_noun_agreement_with_adj_irregular_2",
        "morphology",
        "determiner_noun_agreement",
    ),
    (
        "determiner_noun_agreement_with_adjective_1",
        "morphology",
        "determiner_noun_agreement",
    ),
    (
        "distractor_agreement_relational_noun",
        "morphology",
        "subject_verb_agreement",
    ),
    (
        "distractor_agreement_relative_clause",
        "morphology",
        "subject_verb_agreement",
    ),
    ("drop_argument", "syntax", "argument_structure"),
    ("ellipsis_n_bar_1", "syntax", "ellipsis"),
    ("ellipsis_n_bar_2", "syntax", "ellipsis"),
    (
        "existential_there_object_raising",
        "syntax_semantics",
        "control_raising",
    ),
    (
        "existential_there_quantifiers_1",
        "semantics",
        "quantifiers",
    ),
    (
        "existential_there_quantifiers_2",
        "semantics",
        "quantifiers",
    ),
    (
        "existential_there_subject_raising",
        "syntax_semantics",
        "control_raising",
    ),
    (
        "expletive_it_object_raising",
        "syntax_semantics",
        "control_raising",
    ),
    ("inchoative", "syntax", "argument_structure"),
    ("intransitive", "syntax", "argument_structure"),
    (
        "irregular_past_participle_adjectives",
        "morphology",
        "irregular_forms",
    ),
    (
        "irregular_past_participle_verbs",
        "morphology",
        "irregular_forms",
    ),
    (
        "irregular_plural_subject_verb_agreement_1",
        "morphology",
        "subject_verb_agreement",
    ),
    (
        "irregular_plural_subject_verb_agreement_2",
        "morphology",
        "subject_verb_agreement",
    ),
    (
        "left_branch_island_echo_question",
        "syntax",
        "island_effects",
    ),
    (
        "left_branch_island_simple_question",
        "syntax",
        "island_effects",
    ),
    (
        "matrix_question_npi_licensor_present",
        "semantics",
        "npi_licensing",
    ),
    ("npi_present_1", "semantics", "npi_licensing"),
    ("npi_present_2", "semantics", "npi_licensing"),
    ("only_npi_licensor_present", "semantics", "npi_licensing"),
    ("only_npi_scope", "syntax_semantics", "npi_licensing"),
    ("passive_1", "syntax", "argument_structure"),
    ("passive_2", "syntax", "argument_structure"),
    ("principle_A_c_command", "syntax_semantics", "binding"),
    ("principle_A_case_1", "syntax_semantics", "binding"),
    ("principle_A_case_2", "syntax/semantics", "binding"),
    ("principle_A_domain_1", "syntax_semantics", "binding"),
    ("principle_A_domain_2", "syntax_semantics", "binding"),
    ("principle_A_domain_3", "syntax_semantics", "binding"),
    ("principle_A_reconstruction", "syntax_semantics", "binding"),
    (
        "regular_plural_subject_verb_agreement_1",
        "morphology",
        "subject_verb_agreement",
    ),
    (
        "regular_plural_subject_verb_agreement_2",
        "morphology",
        "subject_verb_agreement",
    ),
    (
        "sentential_negation_npi_licensor_present",
        "semantics",
        "npi_licensing",
    ),
    (
        "sentential_negation_npi_scope",
        "syntax_semantics",
        "npi_licensing",
    ),
    ("sentential_subject_island", "syntax", "island_effects"),
    ("superlative_quantifiers_1", "semantics", "quantifiers"),
    ("superlative_quantifiers_2", "semantics", "quantifiers"),
    ("tough_vs_raising_1", "syntax_semantics", "control_raising"),
    ("tough_vs_raising_2", "syntax_semantics", "control_raising"),
    ("transitive", "syntax", "argument_structure"),
    ("wh_island", "syntax", "island_effects"),
    ("wh_questions_object_gap", "syntax", "filler_gap_dependency"),
    (
        "wh_questions_subject_gap",
        "syntax",
        "filler_gap_dependency",
    ),
    (
        "wh_questions_subject_gap_long_distance",
        "syntax",
        "filler_gap_dependency",
    ),
    ("wh_vs_that_no_gap", "syntax", "filler_gap_dependency"),
    (
        "wh_vs_that_no_gap_long_distance",
        "syntax",
        "filler_gap_dependency",
    ),
    ("wh_vs_that_with_gap", "syntax", "filler_gap_dependency"),
    (
        "wh_vs_that_with_gap_long_distance",
        "syntax",
        "filler_gap_dependency",
    ),
];

/// The `(UID, field, linguistics_term)` of a paradigm, its name matched without regard to case
/// (`complex_np_island` is `complex_NP_island`).
pub fn paradigm_facts(name: &str) -> Option<(&'static str, &'static str, &'static str)> {
    PARADIGM_FACTS
        .iter()
        .find(|(uid, _, _)| uid.eq_ignore_ascii_case(name))
        .copied()
}

/// The BLiMP paper's phenomenon group of a `linguistics_term` (the 12 the study's figures show;
/// the two s-selection paradigms belong to Argument Structure).
pub fn paper_group(term: &str) -> Option<&'static str> {
    Some(match term {
        "anaphor_agreement" => "Anaphor Agreement",
        "argument_structure" | "s-selection" => "Argument Structure",
        "binding" => "Binding",
        "control_raising" => "Control/Raising",
        "determiner_noun_agreement" => "Determiner-Noun Agreement",
        "ellipsis" => "Ellipsis",
        "filler_gap_dependency" => "Filler-Gap Dependencies",
        "irregular_forms" => "Irregular Forms",
        "island_effects" => "Island Effects",
        "npi_licensing" => "NPI Licensing",
        "quantifiers" => "Quantifiers",
        "subject_verb_agreement" => "Subject-Verb Agreement",
        _ => return None,
    })
}

/// The 12 paper groups in the paper's order.
pub const PAPER_GROUPS: [&str; 12] = [
    "Anaphor Agreement",
    "Argument Structure",
    "Binding",
    "Control/Raising",
    "Determiner-Noun Agreement",
    "Ellipsis",
    "Filler-Gap Dependencies",
    "Irregular Forms",
    "Island Effects",
    "NPI Licensing",
    "Quantifiers",
    "Subject-Verb Agreement",
];

/// BLiMP's pairs whose good and bad sentences are the same sentence (paradigm, `pairID`). The
/// study's rule counts a pair right only when the good sentence is strictly more likely, so every
/// model scores these wrong: `passive_1` tops out at 99.8%, `principle_A_case_2` at 99.5%.
pub const IDENTICAL_PAIRS: [(&str, u32); 7] = [
    ("passive_1", 324),
    ("passive_1", 810),
    ("principle_A_case_2", 105),
    ("principle_A_case_2", 287),
    ("principle_A_case_2", 372),
    ("principle_A_case_2", 816),
    ("principle_A_case_2", 967),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_paradigm_has_its_facts_and_a_paper_group() {
        for (_, _, term) in PARADIGM_FACTS {
            assert!(paper_group(term).is_some(), "{term}");
        }
        assert!(BLIMP_PARADIGMS.is_sorted(), "sorted, as the files list");
        assert_eq!(BLIMP_PARADIGMS[6], "complex_NP_island");
        assert_eq!(
            paradigm_facts("complex_np_island"),
            Some(("complex_NP_island", "syntax", "island_effects"))
        );
        assert_eq!(paradigm_facts("principle_a_case_1").unwrap().2, "binding");
        let mut groups: Vec<&str> = PARADIGM_FACTS
            .iter()
            .filter_map(|f| paper_group(f.2))
            .collect();
        groups.sort();
        groups.dedup();
        assert_eq!(groups.len(), 12);
        assert!(groups.iter().all(|g| PAPER_GROUPS.contains(g)));
    }

    #[test]
    fn the_identical_pairs_are_those_of_the_blimp_files() {
        let shared = std::env::var_os("LMEFF_SHARED_DATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
            });
        let mut found = Vec::new();
        for name in BLIMP_PARADIGMS {
            let path = shared.join("blimp").join(format!("{name}.jsonl"));
            let text = fs_err::read_to_string(&path).expect("the shared BLiMP files");
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                if v["sentence_good"] == v["sentence_bad"] {
                    let id = v["pairID"].as_str().unwrap().parse::<u32>().unwrap();
                    found.push((name, id));
                }
            }
        }
        assert_eq!(found, IDENTICAL_PAIRS);
    }
}
