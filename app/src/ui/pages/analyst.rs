//! Analyst: a question in, an answer grounded in the grid's facts out, streamed as it is
//! written, with every cited asset linked. The question is in the URL (`?q=`), so answers can
//! be shared and reloaded.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::analyst::{AnalystEvent, AnswerSource};
use crate::domain::analyst::{segments, Intent, Segment, MAX_QUESTION_CHARS};
use crate::error::AppError;
use crate::ui::pages::overview::ErrorNotice;

/// Questions the offline analyst answers; offered as one-tap links.
const SUGGESTIONS: [&str; 3] = [
    "Which assets are at highest risk?",
    "What should we maintain first?",
    "Which single failures cut customers off?",
];

/// An answer as far as it has arrived.
#[derive(Clone, Debug, Default, PartialEq)]
struct Answer {
    started: Option<(Intent, Vec<String>, AnswerSource, bool)>,
    /// Why the language model did not answer (the offline answer follows).
    fallback: Option<AppError>,
    text: String,
    /// The answer broke off, or never started.
    failed: Option<AppError>,
    done: bool,
}

impl Answer {
    fn apply(&mut self, event: AnalystEvent) {
        match event {
            AnalystEvent::Start { intent, linkable, source, cached, .. } => {
                self.started = Some((intent, linkable, source, cached));
            }
            AnalystEvent::Fallback { error } => self.fallback = Some(error),
            AnalystEvent::Text { text } => self.text.push_str(&text),
            AnalystEvent::Failed { error } => self.failed = Some(error),
            AnalystEvent::Done => self.done = true,
        }
    }
}

#[component]
pub fn Analyst() -> impl IntoView {
    let params = use_query_map();
    let question = params.get_untracked().get("q");
    let me = expect_context::<crate::ui::Me>();
    crate::ui::preload_island("analyst_view");
    view! {
        <Title text="Analyst"/>
        <h1>"Analyst"</h1>
        <Transition fallback=|| ()>
            {move || {
                let question = question.clone();
                me.0.get().map(|_| view! {
                    <AnalystView question operator={me.role() >= crate::api::auth::Role::Operator}/>
                })
            }}
        </Transition>
    }
}

/// The question form and the streamed answer (the answer streams in the browser).
#[island(lazy)]
fn AnalystView(question: Option<String>, operator: bool) -> impl IntoView {
    let current = question.clone().unwrap_or_default();
    let question = question.filter(|q| !q.trim().is_empty());
    let answer = RwSignal::new(Answer::default());
    // Each question starts a stream; a newer question makes an older stream's events moot.
    let generation = StoredValue::new(0u64);
    let asked = question.clone();
    Effect::new(move |_| {
        let Some(q) = asked.clone() else {
            answer.set(Answer::default());
            return;
        };
        let mine = generation.get_value() + 1;
        generation.set_value(mine);
        answer.set(Answer::default());
        leptos::task::spawn_local(async move {
            stream_answer(q, move |update| {
                if generation.get_value() == mine {
                    answer.update(update);
                }
            })
            .await;
        });
    });
    let form = move || {
        let current = current.clone();
        view! {
        <form method="GET" action="/analyst" class="ask" aria-label="Ask the analyst">
            <label for="question">"Your question"</label>
            <textarea id="question" name="q" rows="3" maxlength=MAX_QUESTION_CHARS required
                placeholder="e.g. What happens if line-12 fails?" data-testid="question">{current}</textarea>
            <button class="button" type="submit" data-testid="ask">"Ask"</button>
        </form>
        <ul class="plain suggestions" aria-label="Suggested questions">
            {SUGGESTIONS.into_iter().map(|s| view! {
                <li><a href=format!("/analyst?q={}", form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>())>{s}</a></li>
            }).collect_view()}
        </ul>
        }
    };
    view! {
        {if operator {
            form().into_any()
        } else {
            view! {
                <p class="notice" data-testid="analyst-sign-in">
                    "The analyst answers operators. " <a href="/login?next=/analyst">"Sign in"</a> " to ask it."
                </p>
            }.into_any()
        }}
        {match question {
            None => view! { <p class="muted">"Ask about risks, outages, maintenance or single points of failure; name assets by their id."</p> }.into_any(),
            Some(_) => view! { <AnswerView answer=answer/> }.into_any(),
        }}
    }
}

/// Reads the streamed answer for `question`, handing each change to `update`.
async fn stream_answer(question: String, update: impl Fn(&dyn Fn(&mut Answer)) + 'static) {
    use crate::api::analyst::{ask_analyst, EventReader};
    use futures::StreamExt;
    let fail = |error: AppError| update(&move |a: &mut Answer| a.failed = Some(error.clone()));
    let stream = match ask_analyst(question).await {
        Ok(stream) => stream,
        Err(error) => return fail(error),
    };
    let mut reader = EventReader::default();
    let mut chunks = stream.into_inner();
    while let Some(chunk) = chunks.next().await {
        match chunk.and_then(|bytes| reader.push(&bytes)) {
            Ok(events) => update(&move |a: &mut Answer| {
                for event in events.clone() {
                    a.apply(event);
                }
            }),
            Err(error) => return fail(error),
        }
    }
    if reader.has_partial() {
        fail(
            AppError::new(crate::error::ErrorCode::SourceUnavailable, "The answer was cut off.")
                .retry_after(5),
        );
    }
}

#[component]
fn AnswerView(answer: RwSignal<Answer>) -> impl IntoView {
    move || {
        let a = answer.get();
        let Some((intent, linkable, source, cached)) = a.started.clone() else {
            return match a.failed {
                Some(error) => view! { <ErrorNotice error=error/> }.into_any(),
                None => view! {
                    <p class="muted" data-testid="thinking" aria-live="polite">"Thinking…"</p>
                    <noscript><p class="muted">"The analyst streams its answers: turn on JavaScript to see them."</p></noscript>
                }
                .into_any(),
            };
        };
        let (label, class) = match &source {
            AnswerSource::Offline if a.fallback.is_some() => (
                "Offline analyst: the AI provider could not answer, so this answer comes from the grid's facts by fixed rules.".to_owned(),
                "offline",
            ),
            AnswerSource::Offline => (
                "Offline analyst: answered from the grid's facts by fixed rules, without a language model (no AI provider is configured).".to_owned(),
                "offline",
            ),
            AnswerSource::Model(provider) => (
                format!("AI answer by {provider}, from the grid's facts{}. Check cited assets before acting.", if cached { " (cached)" } else { "" }),
                "model",
            ),
        };
        let state = match (&a.failed, a.done) {
            (Some(_), _) => "incomplete",
            (None, true) => "done",
            (None, false) => "streaming",
        };
        let streaming = state == "streaming";
        view! {
            <section class="card answer" aria-labelledby="answer-heading" aria-busy=streaming.to_string()
                data-testid="answer" data-source=class data-intent=format!("{intent:?}") data-state=state>
                <h2 id="answer-heading">"Answer"</h2>
                {a.fallback.map(|error| view! { <div data-testid="fallback-reason"><ErrorNotice error=error/></div> })}
                <p class=format!("badge {class}") data-testid="answer-source">{label}</p>
                <div data-testid="answer-text">
                    {a.text.lines().map(|line| view! {
                        <p>
                            {segments(line, &linkable).into_iter().map(|s| match s {
                                Segment::Text(t) => t.into_any(),
                                Segment::Asset(id) => view! { <a href=format!("/assets/{id}") data-testid="cited-asset">{id.clone()}</a> }.into_any(),
                            }).collect_view()}
                        </p>
                    }).collect_view()}
                </div>
                {streaming.then(|| view! { <p class="muted" aria-hidden="true">"…"</p> })}
                {a.failed.map(|error| view! {
                    <div data-testid="answer-incomplete"><p class="muted">"The answer broke off; what came so far is above."</p><ErrorNotice error=error/></div>
                })}
            </section>
        }
        .into_any()
    }
}
