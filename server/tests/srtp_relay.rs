//! Guards the libsrtp 3-on-2 shim of the offline mediasoup build
//! (tools/mediasoup-offline/shims/libsrtp3): RTP relayed through two SRTP
//! PlainTransports must decrypt at the far end with each of the four SRTP suites
//! mediasoup offers. Ported from the recipe's demo.
use mediasoup::prelude::*;
use mediasoup::types::srtp_parameters::{SrtpCryptoSuite, SrtpParameters};
use std::net::{IpAddr, Ipv4Addr};
use std::num::{NonZeroU32, NonZeroU8};
use std::time::Duration;

fn listen_info() -> ListenInfo {
    ListenInfo {
        protocol: Protocol::Udp,
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        announced_address: None,
        expose_internal_ip: false,
        port: None,
        port_range: None,
        flags: None,
        send_buffer_size: None,
        recv_buffer_size: None,
    }
}

fn opus_capability() -> RtpCodecCapability {
    RtpCodecCapability::Audio {
        mime_type: MimeTypeAudio::Opus,
        preferred_payload_type: None,
        clock_rate: NonZeroU32::new(48000).unwrap(),
        channels: NonZeroU8::new(2).unwrap(),
        parameters: RtpCodecParametersParameters::from([("useinbandfec", 1_u32.into())]),
        rtcp_feedback: vec![],
    }
}

fn connect_to(t: &PlainTransport, srtp: SrtpParameters) -> PlainTransportRemoteParameters {
    PlainTransportRemoteParameters {
        ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        port: Some(t.tuple().local_port()),
        rtcp_port: None,
        srtp_parameters: Some(srtp),
    }
}

/// Plain RTP -> transport `src` (comedia) -> consumer on SRTP transport `a` -> SRTP over
/// UDP -> SRTP transport `b` -> producer on `b`. Returns the packets `b`'s producer got.
async fn relay_through_srtp(router: &Router, suite: SrtpCryptoSuite) -> u64 {
    let mut src_options = PlainTransportOptions::new(listen_info());
    src_options.comedia = true;
    let src = router.create_plain_transport(src_options).await.unwrap();
    let ssrc = 0x1111_2222;
    let src_producer = src
        .produce(ProducerOptions::new(
            MediaKind::Audio,
            RtpParameters {
                codecs: vec![RtpCodecParameters::Audio {
                    mime_type: MimeTypeAudio::Opus,
                    payload_type: 100,
                    clock_rate: NonZeroU32::new(48000).unwrap(),
                    channels: NonZeroU8::new(2).unwrap(),
                    parameters: RtpCodecParametersParameters::default(),
                    rtcp_feedback: vec![],
                }],
                encodings: vec![RtpEncodingParameters { ssrc: Some(ssrc), ..Default::default() }],
                ..Default::default()
            },
        ))
        .await
        .unwrap();

    let srtp_options = || {
        let mut options = PlainTransportOptions::new(listen_info());
        options.enable_srtp = true;
        options.srtp_crypto_suite = suite;
        options
    };
    let a = router.create_plain_transport(srtp_options()).await.unwrap();
    let b = router.create_plain_transport(srtp_options()).await.unwrap();
    let (a_srtp, b_srtp) = (a.srtp_parameters().unwrap(), b.srtp_parameters().unwrap());
    assert_eq!(a_srtp.crypto_suite, suite);
    a.connect(connect_to(&b, b_srtp)).await.unwrap();
    b.connect(connect_to(&a, a_srtp)).await.unwrap();

    // The router's own capabilities, as a receiver would declare them.
    let caps: RtpCapabilities = serde_json::from_value(serde_json::to_value(router.rtp_capabilities()).unwrap()).unwrap();
    let consumer = a.consume(ConsumerOptions::new(src_producer.id(), caps)).await.unwrap();
    let b_producer = b
        .produce(ProducerOptions::new(MediaKind::Audio, consumer.rtp_parameters().clone()))
        .await
        .unwrap();

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dest = ("127.0.0.1", src.tuple().local_port());
    for seq in 0..50_u16 {
        let mut packet = vec![0x80, 100];
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
        packet.extend_from_slice(&ssrc.to_be_bytes());
        packet.extend_from_slice(&[0x78; 40]); // an opus-sized payload
        socket.send_to(&packet, dest).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Wait for the far end to count them, without a fixed long sleep.
    let mut packets = 0;
    for _ in 0..50 {
        packets = b_producer.get_stats().await.unwrap().iter().map(|s| s.packet_count).sum();
        if packets >= 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    packets
}

#[tokio::test]
async fn rtp_survives_srtp_with_all_four_suites() {
    let manager = WorkerManager::new();
    let worker = manager.create_worker(WorkerSettings::default()).await.unwrap();
    let router = worker.create_router(RouterOptions::new(vec![opus_capability()])).await.unwrap();
    for suite in [
        SrtpCryptoSuite::AeadAes256Gcm,
        SrtpCryptoSuite::AeadAes128Gcm,
        SrtpCryptoSuite::AesCm128HmacSha180,
        SrtpCryptoSuite::AesCm128HmacSha132,
    ] {
        let packets = relay_through_srtp(&router, suite).await;
        // Loopback loses nothing: every one of the 50 packets must arrive decrypted.
        assert_eq!(packets, 50, "{suite:?}: {packets} of 50 packets decrypted at the far end");
    }
}
