//! DNS decoder (UDP and TCP port 53): the names the ECUs ask the TCU's resolver for and the
//! addresses it answers, which the domain and address indicators are matched against.

mod parser;

pub use parser::{
    parse, tcp_frame_len, Answer, Dns, DnsError, Question, RData, HEADER_LEN, MAX_NAME_LEN,
    MAX_POINTERS, MAX_RECORDS, TYPE_A, TYPE_AAAA, TYPE_CNAME,
};
