//! The maintenance planner on the demo grid as operators ask for it (issue 29): 8 weeks, 2
//! crews, the default budget, over Christmas and New Year. Before, the plan was 46 repairs of
//! mostly medium-risk buses and none of the 8 critical assets was planned or said why not.

use app::domain::planner::{plan, working_days, DeferReason, Holidays, PlanRequest};
use app::domain::risk::{score_all, RiskBand};
use app::domain::topology::{SwitchMode, Topology};

fn request(asked: Option<&str>) -> PlanRequest {
    PlanRequest {
        // A Monday: the horizon holds 25 and 26 December and 1 January.
        start: chrono::NaiveDate::from_ymd_opt(2026, 12, 14).unwrap(),
        horizon_weeks: 8,
        crews: 2,
        budget: PlanRequest::DEFAULT_BUDGET,
        currency: "EUR".into(),
        holidays: Holidays::parse(Holidays::DEFAULT).unwrap(),
        asked: asked.map(str::to_owned),
    }
}

#[test]
fn every_critical_asset_is_planned_or_says_why_and_no_job_falls_on_a_holiday() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/grids/mv_oberrhein");
    let grid = server::interchange::read_grid(&folder).unwrap();
    let topology = Topology::build(&grid, SwitchMode::Respect);
    let request = request(None);
    let plan = plan(&grid, &topology, &request);

    let scores = score_all(&grid, &topology, request.start);
    let critical: Vec<&str> =
        scores.iter().filter(|s| s.band == RiskBand::Critical).map(|s| s.asset.as_str()).collect();
    assert!(!critical.is_empty(), "the demo grid has critical assets");
    let watched = scores.iter().filter(|s| s.band >= RiskBand::High).count();
    assert_eq!(plan.priorities.len(), watched, "every high and critical asset is reported");
    for id in &critical {
        let p =
            plan.priorities.iter().find(|p| p.asset == *id).unwrap_or_else(|| panic!("{id} not reported"));
        match (&p.planned, &p.why_not) {
            (Some(day), None) => {
                let job = plan.jobs.iter().find(|j| j.candidate.asset == *id).expect("its job");
                assert_eq!(job.start, *day);
            }
            (None, Some(why)) => assert!(why.len() > 20, "{id}: '{why}' says why"),
            other => panic!("{id}: {other:?}"),
        }
    }
    // Critical work comes first: some of it fits the default budget, so some is planned, and
    // no high-risk job is planned while a critical one that fit the budget was left out.
    let planned_critical =
        plan.priorities.iter().filter(|p| p.band == RiskBand::Critical && p.planned.is_some()).count();
    assert!(
        planned_critical > 0,
        "no critical asset planned: {:?}",
        plan.priorities.iter().take(8).collect::<Vec<_>>()
    );
    let left = request.budget - plan.spent;
    for d in plan.deferred.iter().filter(|d| d.candidate.band == RiskBand::Critical) {
        assert!(
            d.candidate.cost > left || d.reason == DeferReason::CrewTime,
            "{} fits the budget left ({left}) but was left out",
            d.candidate.asset
        );
    }

    // Holidays: no working day of the horizon is one, and every job's days are working days.
    let days = working_days(request.start, request.horizon_weeks, &request.holidays);
    for holiday in ["2026-12-25", "2027-01-01"] {
        let day: chrono::NaiveDate = holiday.parse().unwrap();
        assert!(!days.contains(&day), "{holiday} is a working day");
    }
    assert_eq!(plan.working_days as usize, days.len());
    assert_eq!(days.len(), 8 * 5 - 2, "two holidays fall on weekdays");
    for job in &plan.jobs {
        assert_eq!(job.start, days[job.start_day as usize]);
        for day in &days[job.start_day as usize..(job.start_day + job.candidate.crew_days) as usize] {
            assert!(!request.holidays.contains(*day), "{} works on {day}", job.candidate.asset);
        }
    }

    // "Is it in the plan?" for a planned asset, a critical one, and an unknown id.
    let planned = &plan.jobs[0].candidate.asset;
    let asked = answer_for(&grid, &topology, planned);
    assert!(asked.contains("is in the plan"), "{asked}");
    let asked = answer_for(&grid, &topology, critical[0]);
    assert!(asked.contains(critical[0]) && asked.contains("plan"), "{asked}");
    assert_eq!(answer_for(&grid, &topology, "no-such-asset"), "No asset has the id 'no-such-asset'.");
}

fn answer_for(grid: &app::domain::model::GridData, topology: &Topology, id: &str) -> String {
    plan(grid, topology, &request(Some(id))).answer.expect("an answer")
}
