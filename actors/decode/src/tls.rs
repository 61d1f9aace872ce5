//! TLS decoder (TCP port 443): the server name, ALPN and version offer of a client's
//! ClientHello, the last cleartext view of an outgoing TLS connection.

mod parser;

pub use parser::{client_hello_sni, ClientHello, TlsError, MAX_CLIENT_HELLO_LEN, MAX_RECORD_LEN};
