//! locker-service's decisions, apart from its storage: validated names and codes
//! ([`UserName`], [`LockerCode`], [`Location`]), the request kinds and answers as `requests`
//! records them, and [`decide`], which takes a request and what the store answered so far and
//! returns the next atomic store operation or the decision with its outcome event. No I/O here;
//! the consumer (`consumers::lockers`) runs the operations through `operations`.

mod decide;
mod names;
mod retire;
#[cfg(test)]
mod tests;

pub use decide::{
    Ask, Command, Decision, Holding, Next, OutOfStep, OutcomeEvent, Reply, Request, Settle,
    Standing, Stored, TakeId, decide, settle,
};
pub use names::{Answer, Location, LockerCode, RequestKind, UserName};
pub use retire::ATTEMPTS as RETIRE_ATTEMPTS;
