//! The analyst: questions in the operator's words, answered from the grid's facts.
//!
//! The answer streams to the page as newline-delimited JSON events ([`AnalystEvent`]): a
//! start (who answers, what it may cite), text pieces as the model writes them, and an end.
//! With a language model configured the server asks it (within its limits); without one, or
//! when the model cannot answer, the offline analyst answers from the same facts, and the
//! events say so and why.

use leptos::prelude::*;
use leptos::server_fn::codec::{ByteStream, Streaming};
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

/// One event of a streamed answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum AnalystEvent {
    /// The answer begins: who writes it and which asset ids it may link (those in its facts).
    Start {
        question: String,
        intent: Intent,
        linkable: Vec<String>,
        source: AnswerSource,
        /// Served from the cache of identical questions.
        cached: bool,
        as_of: chrono::DateTime<chrono::Utc>,
    },
    /// The language model cannot answer now (a limit, the provider down): why, and the
    /// offline answer follows.
    Fallback { error: AppError },
    /// The next piece of the answer's text.
    Text { text: String },
    /// The answer broke off: the text so far stands, marked incomplete.
    Failed { error: AppError },
    /// The answer is complete.
    Done,
}

/// Longest event line accepted by the reader (an answer piece is far smaller).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Splits a byte stream into events at newlines, whatever the chunking (a chunk may end
/// inside a line or inside a UTF-8 character).
#[derive(Default)]
pub struct EventReader {
    buffer: Vec<u8>,
}

impl EventReader {
    /// The complete events in `chunk` (with what was left over before).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<AnalystEvent>, AppError> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let line = &line[..end];
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            events.push(serde_json::from_slice(line).map_err(|_| garbled())?);
        }
        if self.buffer.len() > MAX_EVENT_BYTES {
            return Err(garbled());
        }
        Ok(events)
    }

    /// Whether the stream ended in the middle of an event.
    pub fn has_partial(&self) -> bool {
        !self.buffer.iter().all(u8::is_ascii_whitespace)
    }
}

fn garbled() -> AppError {
    AppError::new(crate::error::ErrorCode::SourceUnavailable, "The answer arrived garbled.").retry_after(5)
}

/// Asks the analyst. Invalid questions are refused before anything streams (HTTP 400).
#[server(endpoint = "analyst_ask", output = Streaming)]
pub async fn ask_analyst(question: String) -> Result<ByteStream<AppError>, AppError> {
    use futures::StreamExt;
    super::auth::require(super::auth::Role::Operator)?;
    let (start, facts, request) = prepare(&question).await?;
    let model = use_context::<std::sync::Arc<dyn crate::ports::AnswerModel>>();
    let offline = |start: AnalystEvent| {
        let text = crate::domain::analyst::offline_answer(intent_of(&start), &facts);
        vec![start, AnalystEvent::Text { text }, AnalystEvent::Done]
    };
    let events: futures::stream::BoxStream<'static, AnalystEvent> = match model {
        None => futures::stream::iter(offline(start)).boxed(),
        Some(model) => match model.answer(request).await {
            Ok(answer) => {
                let start = with_source(start, AnswerSource::Model(answer.label), answer.cached);
                let mut ended = false;
                futures::stream::iter([start])
                    .chain(answer.pieces.map(|piece| match piece {
                        Ok(text) => AnalystEvent::Text { text },
                        Err(error) => AnalystEvent::Failed { error },
                    }))
                    .chain(futures::stream::iter([AnalystEvent::Done]))
                    // After a failure nothing more: the answer is incomplete, not done.
                    .take_while(move |event| {
                        let keep = !ended;
                        ended |= matches!(event, AnalystEvent::Failed { .. });
                        std::future::ready(keep)
                    })
                    .boxed()
            }
            Err(error) => {
                tracing::info!(code = error.code.as_str(), "analyst model unavailable; answering offline");
                let mut events = vec![AnalystEvent::Fallback { error }];
                events.extend(offline(start));
                futures::stream::iter(events).boxed()
            }
        },
    };
    Ok(ByteStream::new(events.map(|event| {
        let mut line = serde_json::to_string(&event).unwrap_or_default();
        line.push('\n');
        Ok::<_, AppError>(line)
    })))
}

#[cfg(feature = "ssr")]
fn intent_of(start: &AnalystEvent) -> Intent {
    match start {
        AnalystEvent::Start { intent, .. } => *intent,
        _ => Intent::Unknown,
    }
}

#[cfg(feature = "ssr")]
fn with_source(start: AnalystEvent, new_source: AnswerSource, is_cached: bool) -> AnalystEvent {
    match start {
        AnalystEvent::Start { question, intent, linkable, as_of, .. } => {
            AnalystEvent::Start { question, intent, linkable, source: new_source, cached: is_cached, as_of }
        }
        other => other,
    }
}

/// Validates the question and gathers its facts: the offline start event, the facts, and
/// the request a model would get.
#[cfg(feature = "ssr")]
async fn prepare(
    question: &str,
) -> Result<(AnalystEvent, crate::domain::analyst::Facts, crate::ports::ModelRequest), AppError> {
    use crate::domain::analyst::{classify, gather_facts, mentioned_assets, validate_question};
    let question = validate_question(question).map_err(AppError::invalid_input)?.to_owned();
    let snapshot = super::grid_snapshot().await?;
    let now = chrono::Utc::now();
    let today = now.date_naive();
    let conditions = super::conditions();
    let scores = snapshot.risk_scores(today, &conditions);
    let mentioned = mentioned_assets(&question, |id| snapshot.index_of(id).is_some());
    let intent = classify(&question, !mentioned.is_empty());
    let facts = gather_facts(
        &snapshot.meta.name,
        &snapshot.data,
        &snapshot.topology,
        scores.scores(),
        &|i| snapshot.risk_explained(i, today, &conditions),
        &mentioned,
        intent,
        today,
    );
    let client = super::auth::current_client();
    let request = crate::ports::ModelRequest {
        client,
        question: question.clone(),
        facts: facts.clone(),
        provenance: format!("{}/{}/{}", snapshot.meta.revision, conditions.revision, today),
    };
    let start = AnalystEvent::Start {
        question,
        intent,
        linkable: facts.ids(),
        source: AnswerSource::Offline,
        cached: false,
        as_of: now,
    };
    Ok((start, facts, request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(event: &AnalystEvent) -> String {
        serde_json::to_string(event).unwrap() + "\n"
    }

    #[test]
    fn events_are_read_whatever_the_chunking() {
        let events = vec![
            AnalystEvent::Text { text: "Line [l-1] carries 3 € of risk…".into() },
            AnalystEvent::Failed { error: AppError::new(crate::error::ErrorCode::SourceUnavailable, "x") },
            AnalystEvent::Done,
        ];
        let bytes: Vec<u8> = events.iter().flat_map(|e| line(e).into_bytes()).collect();
        for size in [1, 2, 3, 7, bytes.len()] {
            let mut reader = EventReader::default();
            let mut got = Vec::new();
            for chunk in bytes.chunks(size) {
                got.extend(reader.push(chunk).unwrap());
            }
            assert_eq!(got, events, "chunks of {size}");
            assert!(!reader.has_partial());
        }
    }

    #[test]
    fn a_garbled_or_endless_line_is_an_error_and_a_cut_one_is_noticed() {
        assert!(EventReader::default().push(b"{not json}\n").is_err());
        assert!(EventReader::default().push(&vec![b'x'; MAX_EVENT_BYTES + 1]).is_err());
        let mut reader = EventReader::default();
        assert_eq!(reader.push(br#"{"event":"do"#).unwrap(), vec![]);
        assert!(reader.has_partial());
    }
}
