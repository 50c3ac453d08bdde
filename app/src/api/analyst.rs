//! The analyst: questions in the operator's words, answered from the grid's facts.
//!
//! Without a language-model provider configured, the offline analyst answers the common
//! questions (riskiest assets, what if X fails, what to maintain first, single points of
//! failure) from the same facts, and the answer says it is offline.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::analyst::Intent;
use crate::error::AppError;

/// Who wrote the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "provider")]
pub enum AnswerSource {
    /// Built from the facts by the server, no language model involved.
    Offline,
    /// A language model, given the facts (provider label).
    Model(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalystAnswer {
    pub question: String,
    pub intent: Intent,
    pub text: String,
    /// The asset ids the answer may link (those in the facts it rests on).
    pub linkable: Vec<String>,
    pub source: AnswerSource,
    pub as_of: chrono::DateTime<chrono::Utc>,
}

#[server(endpoint = "analyst_ask")]
pub async fn ask_analyst(question: String) -> Result<AnalystAnswer, AppError> {
    use crate::domain::analyst::{
        classify, gather_facts, mentioned_assets, offline_answer, validate_question,
    };
    let question =
        validate_question(&question).map_err(|e| super::with_status(AppError::invalid_input(e)))?.to_owned();
    let snapshot = super::grid_snapshot().await.map_err(super::with_status)?;
    let now = chrono::Utc::now();
    let today = now.date_naive();
    let scores = snapshot.risk_scores(today, &super::conditions());
    let mentioned = mentioned_assets(&question, |id| snapshot.index_of(id).is_some());
    let intent = classify(&question, !mentioned.is_empty());
    let facts = gather_facts(
        &snapshot.meta.name,
        &snapshot.data,
        &snapshot.topology,
        &scores,
        &mentioned,
        intent,
        today,
    );
    Ok(AnalystAnswer {
        text: offline_answer(intent, &facts),
        linkable: facts.ids(),
        question,
        intent,
        source: AnswerSource::Offline,
        as_of: now,
    })
}
