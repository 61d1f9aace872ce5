//! UDS (ISO 14229-1) decoder: the diagnostic services carried by DoIP diagnostic messages
//! (`super::doip`). Which services are dangerous is the topology's call
//! (`diagnostics.dangerous_services`), made on [`Uds::sid`].

mod parser;

pub use parser::{
    parse, Dids, Direction, ExpectedLen, MemoryRange, NegativeResponse, Nrc, PositiveResponse,
    Request, RequestService, ResponseService, SecurityStep, SessionType, Sid, Uds, UdsError,
};
