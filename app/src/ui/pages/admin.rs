//! Admin: accounts (enable, disable, end their sessions) and the audit log. The server checks
//! the admin role on every call; this page only shows what it returns.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::auth::{audit_log, list_users, AuditEntry, EndSessions, SetUserEnabled, UserSummary};
use crate::ui::card::{ResourceCard, ScrollTable};
use crate::ui::format;
use crate::ui::pages::overview::ErrorNotice;

#[component]
pub fn Admin() -> impl IntoView {
    crate::ui::preload_island("admin_view");
    view! {
        <Title text="Admin"/>
        <h1>"Admin"</h1>
        <AdminView/>
    }
}

/// Accounts and the audit log, updated in the browser after each action.
#[island(lazy)]
fn AdminView() -> impl IntoView {
    let end = ServerAction::<EndSessions>::new();
    let enable = ServerAction::<SetUserEnabled>::new();
    let users = Resource::new(move || (end.version().get(), enable.version().get()), |_| list_users());
    let audit = Resource::new(move || (end.version().get(), enable.version().get()), |_| audit_log());
    let action_error = move || {
        end.value().get().and_then(Result::err).or_else(|| enable.value().get().and_then(Result::err))
    };
    view! {
        {move || action_error().map(|error| view! { <ErrorNotice error=error/> })}
        <ResourceCard id="users-heading" title="Accounts" resource=users render={move |users: Vec<UserSummary>| view! {
            <ScrollTable label="Accounts table" testid="users" headings={&["User", "Role", "State", "Last sign-in", "Actions"]}>
                {users.into_iter().map(|u| {
                    let state = match (u.enabled, u.locked_until) {
                        (false, _) => "disabled".to_owned(),
                        (true, Some(until)) if until > chrono::Utc::now() => format!("locked until {}", format::timestamp(until)),
                        _ => "active".to_owned(),
                    };
                    let name = u.username.clone();
                    let name2 = u.username.clone();
                    view! {
                        <tr data-testid="user-row" data-username=u.username.clone()>
                            <td>{u.username.clone()}</td>
                            <td>{u.role.as_str()}</td>
                            <td data-testid="user-state">{state}</td>
                            <td>{u.last_sign_in.map(format::timestamp).unwrap_or_else(|| "never".into())}</td>
                            <td>
                                <ActionForm action=end attr:class="inline">
                                    <input type="hidden" name="username" value=name/>
                                    <button class="link-button" type="submit" data-testid="end-sessions">"End sessions"</button>
                                </ActionForm>
                                <ActionForm action=enable attr:class="inline">
                                    <input type="hidden" name="username" value=name2/>
                                    <input type="hidden" name="enabled" value=(!u.enabled).to_string()/>
                                    <button class="link-button" type="submit" data-testid="toggle-enabled">
                                        {if u.enabled { "Disable" } else { "Enable" }}
                                    </button>
                                </ActionForm>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </ScrollTable>
        }}/>
        <ResourceCard id="audit-heading" title="Audit log" resource=audit render={|entries: Vec<AuditEntry>| view! {
            <ScrollTable label="Audit log table" testid="audit" headings={&["When", "Who", "What", "Target", "From", "Outcome"]}>
                {entries.into_iter().map(|e| {
                    let action = e.action.clone();
                    view! {
                    <tr data-testid="audit-row" data-action=action>
                        <td>{format::timestamp(e.at)}</td>
                        <td>{e.actor}</td>
                        <td>{e.action}</td>
                        <td>{e.target.unwrap_or_default()}</td>
                        <td>{e.client}</td>
                        <td>{e.outcome}</td>
                    </tr>
                    }
                }).collect_view()}
            </ScrollTable>
        }}/>
    }
}
