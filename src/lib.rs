//! webcare: finds public mentions of a brand, flags complaints, questions and praise, and tells
//! the right people. See README.md for the pipeline.
pub mod classify;
