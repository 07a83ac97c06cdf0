//! Which processes of a cluster are still heard from: a dataflow of its own, apart from the
//! word count, in which the first worker of every process says "here" about once a second.
//!
//! A process that dies ends the others through timely's closed sockets, but one that is
//! stopped (SIGSTOP, a debugger, a frozen VM) or cut off without a reset keeps its sockets open:
//! the job then waits for it with nothing to say why. Worker 0 notes when it last heard from
//! each process and warns, naming the process and its address, once one has been silent for
//! [`SILENCE_WARNING`]; and says so again when it is back. The job itself waits, as it must:
//! the silent process holds part of the counts.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Operator;
use timely::dataflow::InputHandleVec;
use timely::worker::Worker;

/// How often a process says it is here.
const BEAT: Duration = Duration::from_millis(500);

/// How long a process may be silent before worker 0 warns about it.
pub const SILENCE_WARNING: Duration = Duration::from_secs(5);

/// One worker's end of the heartbeat dataflow.
pub struct Heartbeat {
    /// On the first worker of each process: where it says "here".
    input: Option<InputHandleVec<u64, usize>>,
    process: usize,
    next_beat: Instant,
    /// On worker 0: when each process was last heard from.
    heard: Rc<RefCell<Vec<Instant>>>,
    /// On worker 0: the processes it has warned about and not yet heard from again.
    warned: Vec<bool>,
    /// Each process's address, for messages.
    addresses: Vec<String>,
}

impl Heartbeat {
    /// Builds the heartbeat dataflow on this worker (every worker of a cluster must, in the
    /// same order among its dataflows). `addresses` names the processes, `process` is this
    /// one; the first worker of each process beats.
    pub fn build(
        worker: &mut Worker,
        process: usize,
        addresses: Vec<String>,
        first_of_process: bool,
    ) -> Heartbeat {
        let mut input = InputHandleVec::new();
        let now = Instant::now();
        let heard = Rc::new(RefCell::new(vec![now; addresses.len()]));
        let noted = heard.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            input.to_stream(scope).sink(
                Exchange::new(|_: &usize| 0),
                "Heard",
                move |(input, _)| {
                    input.for_each(|_, beats| {
                        let now = Instant::now();
                        let mut heard = noted.borrow_mut();
                        for &process in beats.iter() {
                            if let Some(last) = heard.get_mut(process) {
                                *last = now;
                            }
                        }
                    });
                },
            );
        });
        // Worker 0 watches: elsewhere nothing is heard, and nothing is warned about.
        let watched = if worker.index() == 0 {
            addresses.len()
        } else {
            0
        };
        Heartbeat {
            input: first_of_process.then_some(input),
            process,
            next_beat: now,
            warned: vec![false; watched],
            heard,
            addresses,
        }
    }

    /// Says "here" if a beat is due (on the first worker of each process; call it often), and
    /// on worker 0 warns about processes silent for [`SILENCE_WARNING`].
    pub fn beat(&mut self) {
        let now = Instant::now();
        if let Some(input) = self.input.as_mut().filter(|_| now >= self.next_beat) {
            input.send(self.process);
            let next = input.time() + 1;
            input.advance_to(next);
            input.flush();
            self.next_beat = now + BEAT;
        }
        let heard = self.heard.borrow();
        for (process, last) in heard.iter().enumerate().take(self.warned.len()) {
            if process == self.process {
                continue;
            }
            let silent = now.saturating_duration_since(*last);
            let address = &self.addresses[process];
            if silent >= SILENCE_WARNING && !self.warned[process] {
                self.warned[process] = true;
                log!(
                    "warning: process {process} of the cluster ({address}) has not been heard from for {} s: it is stopped, overloaded or cut off; the job waits for it (its part of the counts cannot be skipped)",
                    silent.as_secs()
                );
            } else if silent < BEAT * 2 && self.warned[process] {
                self.warned[process] = false;
                log!("process {process} of the cluster ({address}) is heard from again; the job goes on");
            }
        }
    }
}
