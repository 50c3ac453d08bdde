//! Analyst: a question in, an answer grounded in the grid's facts out, with every cited asset
//! linked. The question is in the URL (`?q=`), so answers can be shared and reloaded.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::analyst::{ask_analyst, AnalystAnswer, AnswerSource};
use crate::domain::analyst::{segments, Segment, MAX_QUESTION_CHARS};
use crate::ui::pages::overview::ErrorNotice;

/// Questions the offline analyst answers; offered as one-tap links.
const SUGGESTIONS: [&str; 3] = [
    "Which assets are at highest risk?",
    "What should we maintain first?",
    "Which single failures cut customers off?",
];

#[component]
pub fn Analyst() -> impl IntoView {
    let params = use_query_map();
    let question = move || params.get().get("q").filter(|q| !q.trim().is_empty());
    let answer = Resource::new(question, |q| async move {
        match q {
            Some(q) => ask_analyst(q).await.map(Some),
            None => Ok(None),
        }
    });
    let current = params.get_untracked().get("q").unwrap_or_default();
    view! {
        <Title text="Analyst"/>
        <h1>"Analyst"</h1>
        <Form method="GET" action="/analyst" attr:class="ask" attr:aria-label="Ask the analyst">
            <label for="question">"Your question"</label>
            <textarea id="question" name="q" rows="3" maxlength=MAX_QUESTION_CHARS required
                placeholder="e.g. What happens if line-12 fails?" data-testid="question">{current}</textarea>
            <button class="button" type="submit" data-testid="ask">"Ask"</button>
        </Form>
        <ul class="plain suggestions" aria-label="Suggested questions">
            {SUGGESTIONS.into_iter().map(|s| view! {
                <li><a href=format!("/analyst?q={}", form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>())>{s}</a></li>
            }).collect_view()}
        </ul>
        <Transition fallback=|| view! { <p class="muted">"Thinking…"</p> }>
            {move || answer.get().map(|result| match result {
                Ok(Some(a)) => view! { <AnswerView answer=a/> }.into_any(),
                Ok(None) => view! { <p class="muted">"Ask about risks, outages, maintenance or single points of failure; name assets by their id."</p> }.into_any(),
                Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn AnswerView(answer: AnalystAnswer) -> impl IntoView {
    let (label, class) = match &answer.source {
        AnswerSource::Offline => (
            "Offline analyst: answered from the grid's facts by fixed rules, without a language model (no AI provider is configured).".to_owned(),
            "offline",
        ),
        AnswerSource::Model(provider) => (format!("Answered by {provider} from the grid's facts."), "model"),
    };
    let linkable = answer.linkable;
    view! {
        <section class="card answer" aria-labelledby="answer-heading" data-testid="answer" data-source=class data-intent=format!("{:?}", answer.intent)>
            <h2 id="answer-heading">"Answer"</h2>
            <p class=format!("badge {class}") data-testid="answer-source">{label}</p>
            {answer.text.lines().map(|line| view! {
                <p>
                    {segments(line, &linkable).into_iter().map(|s| match s {
                        Segment::Text(t) => t.into_any(),
                        Segment::Asset(id) => view! { <a href=format!("/assets/{id}") data-testid="cited-asset">{id.clone()}</a> }.into_any(),
                    }).collect_view()}
                </p>
            }).collect_view()}
        </section>
    }
}
