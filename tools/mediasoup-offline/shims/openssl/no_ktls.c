/*
 * libssl asks its write BIO whether kernel TLS sends the records
 * (BIO_get_ktls_send(wbio), i.e. BIO_ctrl(wbio, BIO_CTRL_GET_KTLS_SEND)); if it
 * answers yes, ssl3_setup_write_buffer() allocates no record buffer. mediasoup's
 * callback on that BIO (onSslBioOut in RTC/DtlsTransport.cpp) returns 1 for every
 * control request, so with Debian's OpenSSL, built with kTLS, the first DTLS flight
 * wrote through a NULL buffer (SIGSEGV in do_dtls1_write). Upstream mediasoup builds
 * OpenSSL without kTLS, where the macro is the constant 0.
 *
 * Nothing here uses kernel TLS (mediasoup's DTLS runs over memory BIOs), so libssl's
 * calls to BIO_ctrl are redirected here (objcopy --redefine-sym, see meson.build) and
 * the kTLS questions answered "no". Every other control request goes to BIO_ctrl.
 */
#include <openssl/bio.h>

long podium_bio_ctrl_without_ktls(BIO *bio, int cmd, long larg, void *parg)
{
	if (cmd == BIO_CTRL_GET_KTLS_SEND || cmd == BIO_CTRL_GET_KTLS_RECV)
		return 0;
	return BIO_ctrl(bio, cmd, larg, parg);
}
