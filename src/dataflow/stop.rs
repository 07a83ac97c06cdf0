//! A stop that reaches every process of a cluster: a dataflow of its own, apart from the word
//! count, whose only record is "stop".
//!
//! A signal reaches one process, but the job ends only when every reading process closes its
//! input. So the first worker of each process holds a [`StopSignal`]: a signalled process
//! raises it, the record is broadcast to every worker, and each reading worker then stops as at
//! the end of its input. Being a dataflow of its own, its open input holds back nothing of the
//! word count's progress.

use std::cell::Cell;
use std::rc::Rc;

use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Inspect;
use timely::dataflow::InputHandleVec;
use timely::worker::Worker;

/// One worker's end of the stop dataflow.
pub struct StopSignal {
    input: Option<InputHandleVec<u64, ()>>,
    seen: Rc<Cell<bool>>,
}

impl StopSignal {
    /// Builds the stop dataflow on this worker (every worker must, after the word count).
    pub fn build(worker: &mut Worker) -> StopSignal {
        let mut input = InputHandleVec::new();
        let seen = Rc::new(Cell::new(false));
        let flag = seen.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            input
                .to_stream(scope)
                .broadcast()
                .inspect(move |_| flag.set(true));
        });
        StopSignal {
            input: Some(input),
            seen,
        }
    }

    /// Tells every process to stop, once; closes this worker's end.
    pub fn raise(&mut self) {
        if let Some(mut input) = self.input.take() {
            input.send(());
            // Dropping the handle closes its only epoch, which sends the record on.
        }
    }

    /// Closes this worker's end without a stop: its dataflow can then complete.
    pub fn close(&mut self) {
        self.input = None;
    }

    /// Whether some process raised the stop (as seen by this worker so far).
    pub fn seen(&self) -> bool {
        self.seen.get()
    }
}
