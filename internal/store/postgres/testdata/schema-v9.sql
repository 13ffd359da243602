-- A database of postel's PostgreSQL store at schema version 9, holding
-- the data of fixtureData in internal/store/postgres/upgrade_test.go, as
-- a postel whose newest migration was 9 left it. Made once, by
--	go test ./internal/store/postgres -run TestMakeSchemaFixture -make-fixture=9
-- and never again: never edit it. Loads with psql -f into an empty
-- database of PostgreSQL 13 or later.
--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: pg_trgm; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;


SET default_table_access_method = heap;

--
-- Name: accounts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.accounts (
    id bigint NOT NULL,
    address text NOT NULL,
    domain text NOT NULL,
    password_hash text DEFAULT ''::text NOT NULL,
    scram_sha256 text DEFAULT ''::text NOT NULL,
    quota_bytes bigint DEFAULT 0 NOT NULL,
    used_bytes bigint DEFAULT 0 NOT NULL,
    disabled boolean DEFAULT false NOT NULL,
    uidvalidity_last bigint DEFAULT 0 NOT NULL,
    auth_epoch bigint DEFAULT 0 NOT NULL,
    created bigint NOT NULL
);


--
-- Name: accounts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.accounts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: accounts_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.accounts_id_seq OWNED BY public.accounts.id;


--
-- Name: acl; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.acl (
    mailbox_id bigint NOT NULL,
    grantee_id bigint NOT NULL,
    negative boolean DEFAULT false NOT NULL,
    rights text NOT NULL
);


--
-- Name: aliases; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.aliases (
    address text NOT NULL,
    target text NOT NULL
);


--
-- Name: backfill; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.backfill (
    task text NOT NULL
);


--
-- Name: blob_chunks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.blob_chunks (
    blob_id bigint NOT NULL,
    n integer NOT NULL,
    data bytea NOT NULL
);
ALTER TABLE ONLY public.blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;


--
-- Name: blob_text; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.blob_text (
    blob_id bigint NOT NULL,
    headers text NOT NULL,
    body text NOT NULL
);


--
-- Name: blobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.blobs (
    id bigint NOT NULL,
    size bigint NOT NULL,
    chunk_size integer NOT NULL,
    refs integer NOT NULL,
    released bigint,
    created bigint NOT NULL
);


--
-- Name: blobs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.blobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: blobs_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.blobs_id_seq OWNED BY public.blobs.id;


--
-- Name: changes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.changes (
    seq bigint NOT NULL,
    account_id bigint NOT NULL,
    mailbox_id bigint NOT NULL,
    kind integer NOT NULL,
    modseq bigint NOT NULL,
    uids bytea NOT NULL,
    created bigint NOT NULL
);


--
-- Name: changes_seq_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.changes_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: changes_seq_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.changes_seq_seq OWNED BY public.changes.seq;


--
-- Name: domains; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.domains (
    name text NOT NULL,
    created bigint NOT NULL
);


--
-- Name: expunged; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.expunged (
    mailbox_id bigint NOT NULL,
    uid bigint NOT NULL,
    modseq bigint NOT NULL
);


--
-- Name: junk_reputation; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.junk_reputation (
    account_id bigint NOT NULL,
    sender text NOT NULL,
    spam integer DEFAULT 0 NOT NULL,
    ham integer DEFAULT 0 NOT NULL,
    last text NOT NULL,
    updated bigint NOT NULL,
    CONSTRAINT junk_reputation_last_check CHECK ((last = ANY (ARRAY['spam'::text, 'ham'::text])))
);


--
-- Name: junk_rules; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.junk_rules (
    account_id bigint NOT NULL,
    pattern text NOT NULL,
    kind text NOT NULL,
    created bigint NOT NULL,
    CONSTRAINT junk_rules_kind_check CHECK ((kind = ANY (ARRAY['allow'::text, 'block'::text])))
);


--
-- Name: leases; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.leases (
    name text NOT NULL,
    owner text NOT NULL,
    expires timestamp with time zone NOT NULL
);


--
-- Name: login_failures; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.login_failures (
    source text NOT NULL,
    account text NOT NULL,
    at bigint NOT NULL
);


--
-- Name: mailboxes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.mailboxes (
    id bigint NOT NULL,
    account_id bigint NOT NULL,
    name text NOT NULL,
    uidvalidity bigint NOT NULL,
    uidnext bigint DEFAULT 1 NOT NULL,
    highest_modseq bigint DEFAULT 1 NOT NULL,
    special_use text DEFAULT ''::text NOT NULL,
    recent_uid bigint DEFAULT 0 NOT NULL
);


--
-- Name: mailboxes_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.mailboxes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: mailboxes_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.mailboxes_id_seq OWNED BY public.mailboxes.id;


--
-- Name: messages; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.messages (
    id bigint NOT NULL,
    mailbox_id bigint NOT NULL,
    uid bigint NOT NULL,
    modseq bigint NOT NULL,
    sysflags integer DEFAULT 0 NOT NULL,
    keywords text DEFAULT ''::text NOT NULL,
    internal_date bigint NOT NULL,
    save_date bigint NOT NULL,
    size bigint NOT NULL,
    blob_id bigint NOT NULL,
    prefix bytea NOT NULL,
    envelope bytea NOT NULL,
    structure bytea NOT NULL,
    hdr_subject text DEFAULT ''::text NOT NULL,
    hdr_from text DEFAULT ''::text NOT NULL,
    hdr_to text DEFAULT ''::text NOT NULL,
    hdr_cc text DEFAULT ''::text NOT NULL,
    hdr_bcc text DEFAULT ''::text NOT NULL,
    hdr_messageid text DEFAULT ''::text NOT NULL,
    hdr_date bigint DEFAULT 0 NOT NULL,
    hdr_inreplyto text DEFAULT ''::text NOT NULL,
    hdr_references text DEFAULT ''::text NOT NULL,
    has_nul boolean
);


--
-- Name: messages_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.messages_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: messages_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.messages_id_seq OWNED BY public.messages.id;


--
-- Name: metadata; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.metadata (
    account_id bigint NOT NULL,
    mailbox_id bigint NOT NULL,
    name text NOT NULL,
    value bytea NOT NULL
);


--
-- Name: queue; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.queue (
    id bigint NOT NULL,
    account_id bigint DEFAULT 0 NOT NULL,
    mail_from text NOT NULL,
    blob_id bigint NOT NULL,
    prefix bytea NOT NULL,
    size bigint NOT NULL,
    dsn_ret text DEFAULT ''::text NOT NULL,
    dsn_envid text DEFAULT ''::text NOT NULL,
    requiretls boolean DEFAULT false NOT NULL,
    smtputf8 boolean DEFAULT false NOT NULL,
    body8bit boolean DEFAULT false NOT NULL,
    created bigint NOT NULL,
    next_attempt bigint NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    lease_owner text DEFAULT ''::text NOT NULL,
    lease_until bigint DEFAULT 0 NOT NULL
);


--
-- Name: queue_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.queue_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: queue_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.queue_id_seq OWNED BY public.queue.id;


--
-- Name: queue_rcpts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.queue_rcpts (
    queue_id bigint NOT NULL,
    address text NOT NULL,
    notify text DEFAULT ''::text NOT NULL,
    orcpt text DEFAULT ''::text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_reply text DEFAULT ''::text NOT NULL,
    last_change bigint NOT NULL
);


--
-- Name: schema_version; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_version (
    version integer NOT NULL,
    applied bigint NOT NULL
);


--
-- Name: sent_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.sent_log (
    account_id bigint NOT NULL,
    created bigint NOT NULL,
    rcpts integer NOT NULL
);


--
-- Name: shared_files; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.shared_files (
    name text NOT NULL,
    data bytea NOT NULL,
    created timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: subscriptions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.subscriptions (
    account_id bigint NOT NULL,
    name text NOT NULL
);


--
-- Name: accounts id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts ALTER COLUMN id SET DEFAULT nextval('public.accounts_id_seq'::regclass);


--
-- Name: blobs id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.blobs ALTER COLUMN id SET DEFAULT nextval('public.blobs_id_seq'::regclass);


--
-- Name: changes seq; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.changes ALTER COLUMN seq SET DEFAULT nextval('public.changes_seq_seq'::regclass);


--
-- Name: mailboxes id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mailboxes ALTER COLUMN id SET DEFAULT nextval('public.mailboxes_id_seq'::regclass);


--
-- Name: messages id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.messages ALTER COLUMN id SET DEFAULT nextval('public.messages_id_seq'::regclass);


--
-- Name: queue id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue ALTER COLUMN id SET DEFAULT nextval('public.queue_id_seq'::regclass);


--
-- Data for Name: accounts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.accounts VALUES (1, 'alice@example.org', 'example.org', '$argon2id$v=19$m=65536,t=3,p=4$YWxpY2Utc2FsdA$QUxJQ0UtSEFTSC1BTElDRS1IQVNILUFMSUNFLUg', 'YWxpY2Utc2NyYW0,4096,U1RPUkVELUtFWS1BTElDRQ,U0VSVkVSLUtFWS1BTElDRQ', 10485760, 3340, false, 1768400007, 1, 1765846800);
INSERT INTO public.accounts VALUES (2, 'bob@example.org', 'example.org', '$argon2id$v=19$m=65536,t=3,p=4$Ym9iLXNhbHQ$Qk9CLUhBU0gtQk9CLUhBU0gtQk9CLUhBU0gtQk9C', '', 0, 318, true, 1768400107, 0, 1765850400);
INSERT INTO public.accounts VALUES (3, 'carol@example.net', 'example.net', '$argon2id$v=19$m=65536,t=3,p=4$Y2Fyb2wtc2FsdA$Q0FST0wtSEFTSC1DQVJPTC1IQVNILUNBUk9MLUg', 'Y2Fyb2wtc2NyYW0,4096,U1RPUkVELUtFWS1DQVJPTA,U0VSVkVSLUtFWS1DQVJPTA', 0, 645, false, 1768400207, 2, 1765854000);


--
-- Data for Name: acl; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: aliases; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.aliases VALUES ('@example.net', 'carol@example.net');
INSERT INTO public.aliases VALUES ('info@example.org', 'alice@example.org');
INSERT INTO public.aliases VALUES ('info@example.org', 'bob@example.org');
INSERT INTO public.aliases VALUES ('postmaster@example.org', 'alice@example.org');
INSERT INTO public.aliases VALUES ('team@example.org', 'dave@remote.example');


--
-- Data for Name: backfill; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: blob_chunks; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.blob_chunks VALUES (1, 0, '\x46726f6d3a20426f62203c626f62406578616d706c652e6f72673e0d0a546f3a20416c696365203c616c696365406578616d706c652e6f72673e0d0a5375626a6563743a204c756e6368206f6e204672696461790d0a446174653a205468752c203135204a616e20323032362030383a35393a3030202b303030300d0a4d6573736167652d49443a203c6c756e63682d31406578616d706c652e6f72673e0d0a4d494d452d56657273696f6e3a20312e300d0a436f6e74656e742d547970653a20746578742f706c61696e3b20636861727365743d7574662d380d0a0d0a5368616c6c2077652074727920746865206d61726d616c61646520706c6163653f0d0a');
INSERT INTO public.blob_chunks VALUES (2, 0, '\x46726f6d3a204361726f6c203c6361726f6c406578616d706c652e6e65743e0d0a546f3a20616c696365406578616d706c652e6f72670d0a43633a20426f62203c626f62406578616d706c652e6f72673e0d0a5375626a6563743a2052653a20517561727465726c79207265706f72740d0a446174653a205468752c203135204a616e20323032362031303a31353a3030202b303130300d0a4d6573736167652d49443a203c72652d7265706f7274406578616d706c652e6e65743e0d0a496e2d5265706c792d546f3a203c7265706f72742d31406578616d706c652e6f72673e0d0a5265666572656e6365733a203c7265706f72742d30406578616d706c652e6f72673e203c7265706f72742d31406578616d706c652e6f72673e0d0a0d0a4e756d62657273206c6f6f6b2066696e652c20657863657074207468652070696e656170706c65206275646765742e0d0a');
INSERT INTO public.blob_chunks VALUES (4, 0, '\x46726f6d3a203d3f5554462d383f513f4a3d43333d42437267656e3f3d203c6a75657267656e40656c736577686572652e6578616d706c653e0d0a546f3a20616c696365406578616d706c652e6f72670d0a5375626a6563743a203d3f5554462d383f513f47723d43333d42433d43333d3946655f6175735f4d3d43333d42436e6368656e3f3d0d0a446174653a205765642c203134204a616e20323032362031383a33303a3030202b303130300d0a4d6573736167652d49443a203c6772756573736540656c736577686572652e6578616d706c653e0d0a4d494d452d56657273696f6e3a20312e300d0a436f6e74656e742d547970653a20746578742f706c61696e3b20636861727365743d7574662d380d0a436f6e74656e742d5472616e736665722d456e636f64696e673a2071756f7465642d7072696e7461626c650d0a0d0a5363683d43333d42366e652047723d43333d42433d43333d3946652c20756e642064616e6b6520663d43333d42437220646965205a75636368696e69210d0a');
INSERT INTO public.blob_chunks VALUES (5, 0, '\x46726f6d3a2044617665203c646176654072656d6f74652e6578616d706c653e0d0a546f3a20616c696365406578616d706c652e6f72670d0a5375626a656374');
INSERT INTO public.blob_chunks VALUES (5, 1, '\x3a20536c696465730d0a446174653a205475652c203133204a616e20323032362031363a30303a3030202d303530300d0a4d6573736167652d49443a203c736c');
INSERT INTO public.blob_chunks VALUES (5, 2, '\x696465734072656d6f74652e6578616d706c653e0d0a4d494d452d56657273696f6e3a20312e300d0a436f6e74656e742d547970653a206d756c746970617274');
INSERT INTO public.blob_chunks VALUES (5, 3, '\x2f6d697865643b20626f756e646172793d226231220d0a0d0a2d2d62310d0a436f6e74656e742d547970653a20746578742f706c61696e3b2063686172736574');
INSERT INTO public.blob_chunks VALUES (5, 4, '\x3d75732d61736369690d0a0d0a5468652078796c6f70686f6e6520736c69646573206172652061747461636865642e0d0a2d2d62310d0a436f6e74656e742d54');
INSERT INTO public.blob_chunks VALUES (5, 5, '\x7970653a206170706c69636174696f6e2f7064663b206e616d653d22736c696465732e706466220d0a436f6e74656e742d446973706f736974696f6e3a206174');
INSERT INTO public.blob_chunks VALUES (5, 6, '\x746163686d656e743b2066696c656e616d653d22736c696465732e706466220d0a436f6e74656e742d5472616e736665722d456e636f64696e673a2062617365');
INSERT INTO public.blob_chunks VALUES (5, 7, '\x36340d0a0d0a4a564245526930784c6a514b4a6366736a36494b43673d3d0d0a2d2d62312d2d0d0a');
INSERT INTO public.blob_chunks VALUES (6, 0, '\x46726f6d3a20416c696365203c616c696365406578616d706c652e6f72673e0d0a546f3a20646176654072656d6f74652e6578616d706c652c206572696e406f746865722e6578616d706c650d0a4263633a2061726368697665406578616d706c652e6f72670d0a5375626a6563743a20517561727465726c79207265706f72740d0a446174653a205468752c203135204a616e20323032362030393a33303a3030202b303030300d0a4d6573736167652d49443a203c7265706f72742d31406578616d706c652e6f72673e0d0a496e2d5265706c792d546f3a203c7265706f72742d30406578616d706c652e6f72673e0d0a5265666572656e6365733a203c7265706f72742d30406578616d706c652e6f72673e0d0a0d0a417474616368656420696e207370697269743a207468652077616c6e757420666967757265732e0d0a');
INSERT INTO public.blob_chunks VALUES (7, 0, '\x46726f6d3a20416c696365203c616c696365406578616d706c652e6f72673e0d0a546f3a20626f62406578616d706c652e6f72670d0a5375626a6563743a2044726166743a207265636970650d0a0d0a5175696e6f612c2074776f20637570733b2077617465722c20666f75722e0d0a');
INSERT INTO public.blob_chunks VALUES (8, 0, '\x46726f6d3a204e657773203c6e657773406c697374732e6578616d706c653e0d0a546f3a20616c696365406578616d706c652e6f72670d0a5375626a6563743a205765656b6c79206e6577730d0a446174653a204d6f6e2c203132204a616e20323032362030373a30303a3030202b303030300d0a4d6573736167652d49443a203c6e2d3432406c697374732e6578616d706c653e0d0a4c6973742d49643a203c7765656b6c792e6c697374732e6578616d706c653e0d0a0d0a416c6c2061626f7574207468652077616c7275732074686973207765656b2e0d0a');
INSERT INTO public.blob_chunks VALUES (9, 0, '\x46726f6d3a20416c696365203c616c696365406578616d706c652e6f72673e0d0a546f3a20426f62203c626f62406578616d706c652e6f72673e0d0a5375626a6563743a2057656c636f6d65206261636b0d0a446174653a205468752c203135204a616e20323032362031333a30303a3030202b303030300d0a4d6573736167652d49443a203c77656c636f6d65406578616d706c652e6f72673e0d0a0d0a546865206b616e6761726f6f20736179732068656c6c6f2e0d0a');
INSERT INTO public.blob_chunks VALUES (10, 0, '\x46726f6d3a2062757965724073686f702e6578616d706c650d0a546f3a2073616c6573406578616d706c652e6e65740d0a5375626a6563743a2050726963696e67207175657374696f6e0d0a446174653a205468752c203135204a616e20323032362031343a30303a3030202b303030300d0a4d6573736167652d49443a203c712d374073686f702e6578616d706c653e0d0a0d0a486f77206d75636820666f7220746865206865646765686f672065646974696f6e3f0d0a');
INSERT INTO public.blob_chunks VALUES (11, 0, '\x46726f6d3a20426f62203c626f62406578616d706c652e6f72673e0d0a546f3a204361726f6c203c6361726f6c406578616d706c652e6e65743e0d0a5375626a6563743a2050686f746f730d0a446174653a205468752c203135204a616e20323032362031353a30303a3030202b303030300d0a4d6573736167652d49443a203c70686f746f73406578616d706c652e6f72673e0d0a0d0a54686520706c6174797075732070696374757265732c2061732070726f6d697365642e0d0a');
INSERT INTO public.blob_chunks VALUES (12, 0, '\x46726f6d3a20426f62203c626f62406578616d706c652e6f72673e0d0a546f3a20616c696365406578616d706c652e6f72670d0a5375626a6563743a205265636970650d0a446174653a205468752c203135204a616e20323032362031353a33303a3030202b303030300d0a4d6573736167652d49443a203c726563697065406578616d706c652e6f72673e0d0a0d0a4172746963686f6b65206865617274732c206e6f7420746865206c65617665732e0d0a');


--
-- Data for Name: blob_text; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.blob_text VALUES (1, 'return-path: <bob@example.org>
received: from mail.example.org by mx.example.org with esmtps id f1; thu, 15 jan 2026 09:00:00 +0000
from: bob <bob@example.org>
to: alice <alice@example.org>
subject: lunch on friday
date: thu, 15 jan 2026 08:59:00 +0000
message-id: <lunch-1@example.org>
mime-version: 1.0
content-type: text/plain; charset=utf-8', 'shall we try the marmalade place?
');
INSERT INTO public.blob_text VALUES (2, 'return-path: <carol@example.net>
received: from mail.example.net by mx.example.org with esmtps id f2; thu, 15 jan 2026 09:20:00 +0000
from: carol <carol@example.net>
to: alice@example.org
cc: bob <bob@example.org>
subject: re: quarterly report
date: thu, 15 jan 2026 10:15:00 +0100
message-id: <re-report@example.net>
in-reply-to: <report-1@example.org>
references: <report-0@example.org> <report-1@example.org>', 'numbers look fine, except the pineapple budget.
');
INSERT INTO public.blob_text VALUES (4, 'return-path: <juergen@elsewhere.example>
received: from mx.elsewhere.example by mx.example.org with esmtps id f4; thu, 15 jan 2026 10:00:00 +0000
from: jürgen <juergen@elsewhere.example>
to: alice@example.org
subject: grüße aus münchen
date: wed, 14 jan 2026 18:30:00 +0100
message-id: <gruesse@elsewhere.example>
mime-version: 1.0
content-type: text/plain; charset=utf-8
content-transfer-encoding: quoted-printable', 'schöne grüße, und danke für die zucchini!
');
INSERT INTO public.blob_text VALUES (5, 'return-path: <dave@remote.example>
received: from mx.remote.example by mx.example.org with esmtps id f5; thu, 15 jan 2026 11:00:00 +0000
from: dave <dave@remote.example>
to: alice@example.org
subject: slides
date: tue, 13 jan 2026 16:00:00 -0500
message-id: <slides@remote.example>
mime-version: 1.0
content-type: multipart/mixed; boundary="b1"', 'the xylophone slides are attached.');
INSERT INTO public.blob_text VALUES (6, 'return-path: <alice@example.org>
received: from [192.0.2.10] by mx.example.org with esmtpsa id s6; thu, 15 jan 2026 09:30:00 +0000
from: alice <alice@example.org>
to: dave@remote.example, erin@other.example
bcc: archive@example.org
subject: quarterly report
date: thu, 15 jan 2026 09:30:00 +0000
message-id: <report-1@example.org>
in-reply-to: <report-0@example.org>
references: <report-0@example.org>', 'attached in spirit: the walnut figures.
');
INSERT INTO public.blob_text VALUES (7, 'from: alice <alice@example.org>
to: bob@example.org
subject: draft: recipe', 'quinoa, two cups; water, four.
');
INSERT INTO public.blob_text VALUES (8, 'return-path: <bounces@lists.example>
received: from lists.example by mx.example.org with esmtps id f8; mon, 12 jan 2026 07:00:01 +0000
from: news <news@lists.example>
to: alice@example.org
subject: weekly news
date: mon, 12 jan 2026 07:00:00 +0000
message-id: <n-42@lists.example>
list-id: <weekly.lists.example>', 'all about the walrus this week.
');
INSERT INTO public.blob_text VALUES (9, 'return-path: <alice@example.org>
received: from [192.0.2.10] by mx.example.org with esmtpsa id s9; thu, 15 jan 2026 13:00:00 +0000
from: alice <alice@example.org>
to: bob <bob@example.org>
subject: welcome back
date: thu, 15 jan 2026 13:00:00 +0000
message-id: <welcome@example.org>', 'the kangaroo says hello.
');
INSERT INTO public.blob_text VALUES (10, 'return-path: <buyer@shop.example>
received: from mx.shop.example by mx.example.org with esmtp id f10; thu, 15 jan 2026 14:00:00 +0000
from: buyer@shop.example
to: sales@example.net
subject: pricing question
date: thu, 15 jan 2026 14:00:00 +0000
message-id: <q-7@shop.example>', 'how much for the hedgehog edition?
');
INSERT INTO public.blob_text VALUES (11, 'return-path: <bob@example.org>
received: from mail.example.org by mx.example.org with esmtps id f11; thu, 15 jan 2026 15:00:00 +0000
from: bob <bob@example.org>
to: carol <carol@example.net>
subject: photos
date: thu, 15 jan 2026 15:00:00 +0000
message-id: <photos@example.org>', 'the platypus pictures, as promised.
');
INSERT INTO public.blob_text VALUES (12, 'return-path: <bob@example.org>
received: from mail.example.org by mx.example.org with esmtps id f12; thu, 15 jan 2026 15:30:00 +0000
from: bob <bob@example.org>
to: alice@example.org
subject: recipe
date: thu, 15 jan 2026 15:30:00 +0000
message-id: <recipe@example.org>', 'artichoke hearts, not the leaves.
');


--
-- Data for Name: blobs; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.blobs VALUES (1, 257, 1048576, 2, NULL, 1768435200);
INSERT INTO public.blobs VALUES (2, 337, 1048576, 1, NULL, 1768435200);
INSERT INTO public.blobs VALUES (4, 387, 1048576, 1, NULL, 1768435200);
INSERT INTO public.blobs VALUES (5, 488, 64, 1, NULL, 1768435200);
INSERT INTO public.blobs VALUES (6, 322, 1048576, 2, NULL, 1768435200);
INSERT INTO public.blobs VALUES (7, 112, 1048576, 1, NULL, 1768435200);
INSERT INTO public.blobs VALUES (8, 219, 1048576, 1, NULL, 1768435200);
INSERT INTO public.blobs VALUES (9, 185, 1048576, 1, NULL, 1768435200);
INSERT INTO public.blobs VALUES (10, 185, 1048576, 1, NULL, 1768435200);
INSERT INTO public.blobs VALUES (11, 189, 1048576, 1, NULL, 1768435200);
INSERT INTO public.blobs VALUES (12, 179, 1048576, 0, 1768492800, 1768435200);


--
-- Data for Name: changes; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.changes VALUES (40, 1, 1, 3, 10, '\x0606', 1768492740);
INSERT INTO public.changes VALUES (41, 1, 1, 3, 11, '\x08', 1768492800);
INSERT INTO public.changes VALUES (43, 1, 1, 2, 12, '\x04', 1768492830);


--
-- Data for Name: domains; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.domains VALUES ('example.net', 1765843200);
INSERT INTO public.domains VALUES ('example.org', 1765843200);


--
-- Data for Name: expunged; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.expunged VALUES (1, 3, 10);
INSERT INTO public.expunged VALUES (1, 4, 11);
INSERT INTO public.expunged VALUES (1, 6, 10);
INSERT INTO public.expunged VALUES (3, 1, 4);
INSERT INTO public.expunged VALUES (7, 1, 4);
INSERT INTO public.expunged VALUES (7, 2, 4);


--
-- Data for Name: junk_reputation; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.junk_reputation VALUES (1, 'news@lists.example', 2, 1, 'spam', 1768435200000000000);


--
-- Data for Name: junk_rules; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.junk_rules VALUES (1, 'friend@elsewhere.example', 'allow', 1768435200);
INSERT INTO public.junk_rules VALUES (1, 'spam.example', 'block', 1768435200);


--
-- Data for Name: leases; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.leases VALUES ('pop3/alice@example.org', 'mx1.example.org/2', '2026-01-15 16:10:00+00');


--
-- Data for Name: login_failures; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.login_failures VALUES ('198.51.100.7', 'alice@example.org', 1768489200000000000);
INSERT INTO public.login_failures VALUES ('198.51.100.7', '', 1768489205000000000);
INSERT INTO public.login_failures VALUES ('2001:db8:1::/64', 'bob@example.org', 1768489209000000000);


--
-- Data for Name: mailboxes; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.mailboxes VALUES (1, 1, 'INBOX', 1768400001, 8, 12, '', 5);
INSERT INTO public.mailboxes VALUES (2, 1, 'Sent', 1768400002, 2, 2, '\Sent', 0);
INSERT INTO public.mailboxes VALUES (3, 1, 'Drafts', 1768400003, 3, 4, '\Drafts', 0);
INSERT INTO public.mailboxes VALUES (4, 1, 'Trash', 1768400004, 2, 3, '\Trash', 0);
INSERT INTO public.mailboxes VALUES (5, 1, 'Junk', 1768400005, 1, 1, '\Junk', 0);
INSERT INTO public.mailboxes VALUES (6, 1, 'Archive', 1768400006, 1, 1, '\Archive', 0);
INSERT INTO public.mailboxes VALUES (7, 1, 'Projects/2026', 1768400007, 4, 5, '', 0);
INSERT INTO public.mailboxes VALUES (8, 2, 'INBOX', 1768400101, 2, 2, '', 0);
INSERT INTO public.mailboxes VALUES (9, 2, 'Sent', 1768400102, 1, 1, '\Sent', 0);
INSERT INTO public.mailboxes VALUES (10, 2, 'Drafts', 1768400103, 1, 1, '\Drafts', 0);
INSERT INTO public.mailboxes VALUES (11, 2, 'Trash', 1768400104, 1, 1, '\Trash', 0);
INSERT INTO public.mailboxes VALUES (12, 2, 'Junk', 1768400105, 1, 1, '\Junk', 0);
INSERT INTO public.mailboxes VALUES (13, 2, 'Archive', 1768400106, 1, 1, '\Archive', 0);
INSERT INTO public.mailboxes VALUES (14, 2, 'Projects/2026', 1768400107, 1, 1, '', 0);
INSERT INTO public.mailboxes VALUES (15, 3, 'INBOX', 1768400201, 3, 4, '', 0);
INSERT INTO public.mailboxes VALUES (16, 3, 'Sent', 1768400202, 1, 1, '\Sent', 0);
INSERT INTO public.mailboxes VALUES (17, 3, 'Drafts', 1768400203, 1, 1, '\Drafts', 0);
INSERT INTO public.mailboxes VALUES (18, 3, 'Trash', 1768400204, 1, 1, '\Trash', 0);
INSERT INTO public.mailboxes VALUES (19, 3, 'Junk', 1768400205, 1, 1, '\Junk', 0);
INSERT INTO public.mailboxes VALUES (20, 3, 'Archive', 1768400206, 1, 1, '\Archive', 0);
INSERT INTO public.mailboxes VALUES (21, 3, 'Projects/2026', 1768400207, 1, 1, '', 0);


--
-- Data for Name: messages; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.messages VALUES (1, 1, 1, 9, 1, '', 1768467600, 1768467660, 391, 1, '\x52657475726e2d506174683a203c626f62406578616d706c652e6f72673e0d0a52656365697665643a2066726f6d206d61696c2e6578616d706c652e6f7267206279206d782e6578616d706c652e6f726720776974682045534d5450532069642066313b205468752c203135204a616e20323032362030393a30303a3030202b303030300d0a', '\x7b2264617465223a225468752c203135204a616e20323032362030383a35393a3030202b30303030222c227375626a223a224c756e6368206f6e20467269646179222c2266726f6d223a5b7b226e223a22426f62222c226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d2c2273656e646572223a5b7b226e223a22426f62222c226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d2c227274223a5b7b226e223a22426f62222c226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d2c22746f223a5b7b226e223a22416c696365222c226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c226d6964223a223c6c756e63682d31406578616d706c652e6f72673e227d', '\x7b2274223a2274657874222c2273223a22706c61696e222c2270223a7b2263686172736574223a227574662d38227d2c22656e63223a2237424954222c226873223a302c226273223a3335362c2265223a3339312c226c223a317d', 'Lunch on Friday', 'Bob <bob@example.org>', 'Alice <alice@example.org>', '', '', 'lunch-1@example.org', 1768467540, '', '', false);
INSERT INTO public.messages VALUES (2, 1, 2, 12, 3, '$label1', 1768468800, 1768468860, 473, 2, '\x52657475726e2d506174683a203c6361726f6c406578616d706c652e6e65743e0d0a52656365697665643a2066726f6d206d61696c2e6578616d706c652e6e6574206279206d782e6578616d706c652e6f726720776974682045534d5450532069642066323b205468752c203135204a616e20323032362030393a32303a3030202b303030300d0a', '\x7b2264617465223a225468752c203135204a616e20323032362031303a31353a3030202b30313030222c227375626a223a2252653a20517561727465726c79207265706f7274222c2266726f6d223a5b7b226e223a224361726f6c222c226d223a226361726f6c222c2268223a226578616d706c652e6e6574227d5d2c2273656e646572223a5b7b226e223a224361726f6c222c226d223a226361726f6c222c2268223a226578616d706c652e6e6574227d5d2c227274223a5b7b226e223a224361726f6c222c226d223a226361726f6c222c2268223a226578616d706c652e6e6574227d5d2c22746f223a5b7b226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c226363223a5b7b226e223a22426f62222c226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d2c22697274223a223c7265706f72742d31406578616d706c652e6f72673e222c226d6964223a223c72652d7265706f7274406578616d706c652e6e65743e227d', '\x7b2274223a2274657874222c2273223a22706c61696e222c2270223a7b2263686172736574223a2275732d6173636969227d2c22656e63223a2237424954222c226873223a302c226273223a3432342c2265223a3437332c226c223a317d', 'Re: Quarterly report', 'Carol <carol@example.net>', 'alice@example.org', 'Bob <bob@example.org>', '', 're-report@example.net', 1768468500, 'report-1@example.org', 'report-0@example.org report-1@example.org', false);
INSERT INTO public.messages VALUES (5, 1, 5, 6, 0, '', 1768471200, 1768471260, 535, 4, '\x52657475726e2d506174683a203c6a75657267656e40656c736577686572652e6578616d706c653e0d0a52656365697665643a2066726f6d206d782e656c736577686572652e6578616d706c65206279206d782e6578616d706c652e6f726720776974682045534d5450532069642066343b205468752c203135204a616e20323032362031303a30303a3030202b303030300d0a', '\x7b2264617465223a225765642c203134204a616e20323032362031383a33303a3030202b30313030222c227375626a223a223d3f5554462d383f513f47723d43333d42433d43333d3946655f6175735f4d3d43333d42436e6368656e3f3d222c2266726f6d223a5b7b226e223a224ac3bc7267656e222c226d223a226a75657267656e222c2268223a22656c736577686572652e6578616d706c65227d5d2c2273656e646572223a5b7b226e223a224ac3bc7267656e222c226d223a226a75657267656e222c2268223a22656c736577686572652e6578616d706c65227d5d2c227274223a5b7b226e223a224ac3bc7267656e222c226d223a226a75657267656e222c2268223a22656c736577686572652e6578616d706c65227d5d2c22746f223a5b7b226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c226d6964223a223c6772756573736540656c736577686572652e6578616d706c653e227d', '\x7b2274223a2274657874222c2273223a22706c61696e222c2270223a7b2263686172736574223a227574662d38227d2c22656e63223a2251554f5445442d5052494e5441424c45222c226873223a302c226273223a3437322c2265223a3533352c226c223a317d', 'Grüße aus München', 'Jürgen <juergen@elsewhere.example>', 'alice@example.org', '', '', 'gruesse@elsewhere.example', 1768411800, '', '', false);
INSERT INTO public.messages VALUES (10, 1, 7, 8, 5, '$important work', 1768474800, 1768474860, 627, 5, '\x52657475726e2d506174683a203c646176654072656d6f74652e6578616d706c653e0d0a52656365697665643a2066726f6d206d782e72656d6f74652e6578616d706c65206279206d782e6578616d706c652e6f726720776974682045534d5450532069642066353b205468752c203135204a616e20323032362031313a30303a3030202b303030300d0a', '\x7b2264617465223a225475652c203133204a616e20323032362031363a30303a3030202d30353030222c227375626a223a22536c69646573222c2266726f6d223a5b7b226e223a2244617665222c226d223a2264617665222c2268223a2272656d6f74652e6578616d706c65227d5d2c2273656e646572223a5b7b226e223a2244617665222c226d223a2264617665222c2268223a2272656d6f74652e6578616d706c65227d5d2c227274223a5b7b226e223a2244617665222c226d223a2264617665222c2268223a2272656d6f74652e6578616d706c65227d5d2c22746f223a5b7b226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c226d6964223a223c736c696465734072656d6f74652e6578616d706c653e227d', '\x7b2274223a226d756c746970617274222c2273223a226d69786564222c2270223a7b22626f756e64617279223a226231227d2c22656e63223a2237424954222c226873223a302c226273223a3335362c2265223a3632372c226c223a31312c227061727473223a5b7b2274223a2274657874222c2273223a22706c61696e222c2270223a7b2263686172736574223a2275732d6173636969227d2c22656e63223a2237424954222c226873223a3336322c226273223a3430382c2265223a3434322c226c223a317d2c7b2274223a226170706c69636174696f6e222c2273223a22706466222c2270223a7b226e616d65223a22736c696465732e706466227d2c22656e63223a22424153453634222c2264697370223a226174746163686d656e74222c226470223a7b2266696c656e616d65223a22736c696465732e706466227d2c226873223a3435302c226273223a3539332c2265223a3631372c226c223a317d5d7d', 'Slides', 'Dave <dave@remote.example>', 'alice@example.org', '', '', 'slides@remote.example', 1768338000, '', '', false);
INSERT INTO public.messages VALUES (6, 2, 1, 2, 1, '', 1768469400, 1768469460, 455, 6, '\x52657475726e2d506174683a203c616c696365406578616d706c652e6f72673e0d0a52656365697665643a2066726f6d205b3139322e302e322e31305d206279206d782e6578616d706c652e6f726720776974682045534d545053412069642073363b205468752c203135204a616e20323032362030393a33303a3030202b303030300d0a', '\x7b2264617465223a225468752c203135204a616e20323032362030393a33303a3030202b30303030222c227375626a223a22517561727465726c79207265706f7274222c2266726f6d223a5b7b226e223a22416c696365222c226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c2273656e646572223a5b7b226e223a22416c696365222c226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c227274223a5b7b226e223a22416c696365222c226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c22746f223a5b7b226d223a2264617665222c2268223a2272656d6f74652e6578616d706c65227d2c7b226d223a226572696e222c2268223a226f746865722e6578616d706c65227d5d2c22626363223a5b7b226d223a2261726368697665222c2268223a226578616d706c652e6f7267227d5d2c22697274223a223c7265706f72742d30406578616d706c652e6f72673e222c226d6964223a223c7265706f72742d31406578616d706c652e6f72673e227d', '\x7b2274223a2274657874222c2273223a22706c61696e222c2270223a7b2263686172736574223a2275732d6173636969227d2c22656e63223a2237424954222c226873223a302c226273223a3431342c2265223a3435352c226c223a317d', 'Quarterly report', 'Alice <alice@example.org>', 'dave@remote.example, erin@other.example', '', 'archive@example.org', 'report-1@example.org', 1768469400, 'report-0@example.org', 'report-0@example.org', false);
INSERT INTO public.messages VALUES (8, 3, 2, 3, 17, '', 1768478400, 1768478460, 112, 7, '\x', '\x7b227375626a223a2244726166743a20726563697065222c2266726f6d223a5b7b226e223a22416c696365222c226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c2273656e646572223a5b7b226e223a22416c696365222c226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c227274223a5b7b226e223a22416c696365222c226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c22746f223a5b7b226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d7d', '\x7b2274223a2274657874222c2273223a22706c61696e222c2270223a7b2263686172736574223a2275732d6173636969227d2c22656e63223a2237424954222c226873223a302c226273223a38302c2265223a3131322c226c223a317d', 'Draft: recipe', 'Alice <alice@example.org>', 'bob@example.org', '', '', '', 0, '', '', false);
INSERT INTO public.messages VALUES (9, 4, 1, 3, 9, '', 1768374000, 1768374060, 356, 8, '\x52657475726e2d506174683a203c626f756e636573406c697374732e6578616d706c653e0d0a52656365697665643a2066726f6d206c697374732e6578616d706c65206279206d782e6578616d706c652e6f726720776974682045534d5450532069642066383b204d6f6e2c203132204a616e20323032362030373a30303a3031202b303030300d0a', '\x7b2264617465223a224d6f6e2c203132204a616e20323032362030373a30303a3030202b30303030222c227375626a223a225765656b6c79206e657773222c2266726f6d223a5b7b226e223a224e657773222c226d223a226e657773222c2268223a226c697374732e6578616d706c65227d5d2c2273656e646572223a5b7b226e223a224e657773222c226d223a226e657773222c2268223a226c697374732e6578616d706c65227d5d2c227274223a5b7b226e223a224e657773222c226d223a226e657773222c2268223a226c697374732e6578616d706c65227d5d2c22746f223a5b7b226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c226d6964223a223c6e2d3432406c697374732e6578616d706c653e227d', '\x7b2274223a2274657874222c2273223a22706c61696e222c2270223a7b2263686172736574223a2275732d6173636969227d2c22656e63223a2237424954222c226873223a302c226273223a3332332c2265223a3335362c226c223a317d', 'Weekly news', 'News <news@lists.example>', 'alice@example.org', '', '', 'n-42@lists.example', 1768201200, '', '', false);
INSERT INTO public.messages VALUES (11, 7, 3, 5, 1, 'project', 1768467600, 1768467660, 391, 1, '\x52657475726e2d506174683a203c626f62406578616d706c652e6f72673e0d0a52656365697665643a2066726f6d206d61696c2e6578616d706c652e6f7267206279206d782e6578616d706c652e6f726720776974682045534d5450532069642066313b205468752c203135204a616e20323032362030393a30303a3030202b303030300d0a', '\x7b2264617465223a225468752c203135204a616e20323032362030383a35393a3030202b30303030222c227375626a223a224c756e6368206f6e20467269646179222c2266726f6d223a5b7b226e223a22426f62222c226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d2c2273656e646572223a5b7b226e223a22426f62222c226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d2c227274223a5b7b226e223a22426f62222c226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d2c22746f223a5b7b226e223a22416c696365222c226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c226d6964223a223c6c756e63682d31406578616d706c652e6f72673e227d', '\x7b2274223a2274657874222c2273223a22706c61696e222c2270223a7b2263686172736574223a227574662d38227d2c22656e63223a2237424954222c226873223a302c226273223a3335362c2265223a3339312c226c223a317d', 'Lunch on Friday', 'Bob <bob@example.org>', 'Alice <alice@example.org>', '', '', 'lunch-1@example.org', 1768467540, '', '', false);
INSERT INTO public.messages VALUES (12, 8, 1, 2, 0, '$junk', 1768482000, 1768482060, 318, 9, '\x52657475726e2d506174683a203c616c696365406578616d706c652e6f72673e0d0a52656365697665643a2066726f6d205b3139322e302e322e31305d206279206d782e6578616d706c652e6f726720776974682045534d545053412069642073393b205468752c203135204a616e20323032362031333a30303a3030202b303030300d0a', '\x7b2264617465223a225468752c203135204a616e20323032362031333a30303a3030202b30303030222c227375626a223a2257656c636f6d65206261636b222c2266726f6d223a5b7b226e223a22416c696365222c226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c2273656e646572223a5b7b226e223a22416c696365222c226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c227274223a5b7b226e223a22416c696365222c226d223a22616c696365222c2268223a226578616d706c652e6f7267227d5d2c22746f223a5b7b226e223a22426f62222c226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d2c226d6964223a223c77656c636f6d65406578616d706c652e6f72673e227d', '\x7b2274223a2274657874222c2273223a22706c61696e222c2270223a7b2263686172736574223a2275732d6173636969227d2c22656e63223a2237424954222c226873223a302c226273223a3239322c2265223a3331382c226c223a317d', 'Welcome back', 'Alice <alice@example.org>', 'Bob <bob@example.org>', '', '', 'welcome@example.org', 1768482000, '', '', false);
INSERT INTO public.messages VALUES (13, 15, 1, 4, 3, '$mdnsent', 1768485600, 1768485660, 321, 10, '\x52657475726e2d506174683a203c62757965724073686f702e6578616d706c653e0d0a52656365697665643a2066726f6d206d782e73686f702e6578616d706c65206279206d782e6578616d706c652e6f726720776974682045534d5450206964206631303b205468752c203135204a616e20323032362031343a30303a3030202b303030300d0a', '\x7b2264617465223a225468752c203135204a616e20323032362031343a30303a3030202b30303030222c227375626a223a2250726963696e67207175657374696f6e222c2266726f6d223a5b7b226d223a226275796572222c2268223a2273686f702e6578616d706c65227d5d2c2273656e646572223a5b7b226d223a226275796572222c2268223a2273686f702e6578616d706c65227d5d2c227274223a5b7b226d223a226275796572222c2268223a2273686f702e6578616d706c65227d5d2c22746f223a5b7b226d223a2273616c6573222c2268223a226578616d706c652e6e6574227d5d2c226d6964223a223c712d374073686f702e6578616d706c653e227d', '\x7b2274223a2274657874222c2273223a22706c61696e222c2270223a7b2263686172736574223a2275732d6173636969227d2c22656e63223a2237424954222c226873223a302c226273223a3238352c2265223a3332312c226c223a317d', 'Pricing question', 'buyer@shop.example', 'sales@example.net', '', '', 'q-7@shop.example', 1768485600, '', '', false);
INSERT INTO public.messages VALUES (14, 15, 2, 3, 0, '', 1768489200, 1768489260, 324, 11, '\x52657475726e2d506174683a203c626f62406578616d706c652e6f72673e0d0a52656365697665643a2066726f6d206d61696c2e6578616d706c652e6f7267206279206d782e6578616d706c652e6f726720776974682045534d545053206964206631313b205468752c203135204a616e20323032362031353a30303a3030202b303030300d0a', '\x7b2264617465223a225468752c203135204a616e20323032362031353a30303a3030202b30303030222c227375626a223a2250686f746f73222c2266726f6d223a5b7b226e223a22426f62222c226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d2c2273656e646572223a5b7b226e223a22426f62222c226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d2c227274223a5b7b226e223a22426f62222c226d223a22626f62222c2268223a226578616d706c652e6f7267227d5d2c22746f223a5b7b226e223a224361726f6c222c226d223a226361726f6c222c2268223a226578616d706c652e6e6574227d5d2c226d6964223a223c70686f746f73406578616d706c652e6f72673e227d', '\x7b2274223a2274657874222c2273223a22706c61696e222c2270223a7b2263686172736574223a2275732d6173636969227d2c22656e63223a2237424954222c226873223a302c226273223a3238372c2265223a3332342c226c223a317d', 'Photos', 'Bob <bob@example.org>', 'Carol <carol@example.net>', '', '', 'photos@example.org', 1768489200, '', '', false);


--
-- Data for Name: metadata; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.metadata VALUES (1, 0, '/shared/comment', '\x616c696365277320736572766572206e6f7465');
INSERT INTO public.metadata VALUES (1, 1, '/private/comment', '\x696e626f78206e6f7465');
INSERT INTO public.metadata VALUES (1, 7, '/private/vendor/example/bin', '\x000102');
INSERT INTO public.metadata VALUES (1, 7, '/shared/empty', '\x');


--
-- Data for Name: queue; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.queue VALUES (3, 1, 'alice@example.org', 6, '\x52656365697665643a2066726f6d205b3139322e302e322e31305d206279206d782e6578616d706c652e6f726720776974682045534d545053412069642073363b205468752c203135204a616e20323032362030393a33303a3030202b303030300d0a', 421, 'HDRS', 'report-1', false, false, false, 1768469400, 1768471200, 1, 'mx1.example.org/2', 1768471500);


--
-- Data for Name: queue_rcpts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.queue_rcpts VALUES (3, 'dave@remote.example', 'FAILURE,DELAY', 'rfc822;dave@remote.example', 'pending', 1, '451 4.3.0 try again later', 1768469401);
INSERT INTO public.queue_rcpts VALUES (3, 'erin@other.example', '', '', 'delivered', 1, '250 2.0.0 ok', 1768469402);


--
-- Data for Name: schema_version; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_version VALUES (1, 1767657600);
INSERT INTO public.schema_version VALUES (2, 1767744000);
INSERT INTO public.schema_version VALUES (3, 1767830400);
INSERT INTO public.schema_version VALUES (4, 1767916800);
INSERT INTO public.schema_version VALUES (5, 1768003200);
INSERT INTO public.schema_version VALUES (6, 1768089600);
INSERT INTO public.schema_version VALUES (7, 1768176000);
INSERT INTO public.schema_version VALUES (8, 1768262400);
INSERT INTO public.schema_version VALUES (9, 1768348800);


--
-- Data for Name: sent_log; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.sent_log VALUES (1, 1768469400, 2);


--
-- Data for Name: shared_files; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: subscriptions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.subscriptions VALUES (1, 'INBOX');
INSERT INTO public.subscriptions VALUES (1, 'Sent');
INSERT INTO public.subscriptions VALUES (1, 'Drafts');
INSERT INTO public.subscriptions VALUES (1, 'Trash');
INSERT INTO public.subscriptions VALUES (1, 'Archive');
INSERT INTO public.subscriptions VALUES (1, 'Projects/2026');
INSERT INTO public.subscriptions VALUES (1, 'Lists/Old');
INSERT INTO public.subscriptions VALUES (2, 'INBOX');
INSERT INTO public.subscriptions VALUES (2, 'Sent');
INSERT INTO public.subscriptions VALUES (2, 'Drafts');
INSERT INTO public.subscriptions VALUES (2, 'Trash');
INSERT INTO public.subscriptions VALUES (2, 'Junk');
INSERT INTO public.subscriptions VALUES (3, 'INBOX');
INSERT INTO public.subscriptions VALUES (3, 'Sent');
INSERT INTO public.subscriptions VALUES (3, 'Drafts');
INSERT INTO public.subscriptions VALUES (3, 'Junk');
INSERT INTO public.subscriptions VALUES (3, 'Archive');
INSERT INTO public.subscriptions VALUES (3, 'Projects/2026');


--
-- Name: accounts_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.accounts_id_seq', 3, true);


--
-- Name: blobs_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.blobs_id_seq', 12, true);


--
-- Name: changes_seq_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.changes_seq_seq', 43, true);


--
-- Name: mailboxes_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.mailboxes_id_seq', 21, true);


--
-- Name: messages_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.messages_id_seq', 14, true);


--
-- Name: queue_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.queue_id_seq', 3, true);


--
-- Name: accounts accounts_address_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_address_key UNIQUE (address);


--
-- Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);


--
-- Name: acl acl_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.acl
    ADD CONSTRAINT acl_pkey PRIMARY KEY (mailbox_id, grantee_id, negative);


--
-- Name: aliases aliases_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.aliases
    ADD CONSTRAINT aliases_pkey PRIMARY KEY (address, target);


--
-- Name: backfill backfill_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.backfill
    ADD CONSTRAINT backfill_pkey PRIMARY KEY (task);


--
-- Name: blob_chunks blob_chunks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.blob_chunks
    ADD CONSTRAINT blob_chunks_pkey PRIMARY KEY (blob_id, n);


--
-- Name: blob_text blob_text_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.blob_text
    ADD CONSTRAINT blob_text_pkey PRIMARY KEY (blob_id);


--
-- Name: blobs blobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.blobs
    ADD CONSTRAINT blobs_pkey PRIMARY KEY (id);


--
-- Name: changes changes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.changes
    ADD CONSTRAINT changes_pkey PRIMARY KEY (seq);


--
-- Name: domains domains_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.domains
    ADD CONSTRAINT domains_pkey PRIMARY KEY (name);


--
-- Name: expunged expunged_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.expunged
    ADD CONSTRAINT expunged_pkey PRIMARY KEY (mailbox_id, uid);


--
-- Name: junk_reputation junk_reputation_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.junk_reputation
    ADD CONSTRAINT junk_reputation_pkey PRIMARY KEY (account_id, sender);


--
-- Name: junk_rules junk_rules_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.junk_rules
    ADD CONSTRAINT junk_rules_pkey PRIMARY KEY (account_id, pattern);


--
-- Name: leases leases_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.leases
    ADD CONSTRAINT leases_pkey PRIMARY KEY (name);


--
-- Name: mailboxes mailboxes_account_id_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mailboxes
    ADD CONSTRAINT mailboxes_account_id_name_key UNIQUE (account_id, name);


--
-- Name: mailboxes mailboxes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mailboxes
    ADD CONSTRAINT mailboxes_pkey PRIMARY KEY (id);


--
-- Name: messages messages_mailbox_id_uid_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_mailbox_id_uid_key UNIQUE (mailbox_id, uid);


--
-- Name: messages messages_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_pkey PRIMARY KEY (id);


--
-- Name: metadata metadata_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.metadata
    ADD CONSTRAINT metadata_pkey PRIMARY KEY (account_id, mailbox_id, name);


--
-- Name: queue queue_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue
    ADD CONSTRAINT queue_pkey PRIMARY KEY (id);


--
-- Name: queue_rcpts queue_rcpts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_rcpts
    ADD CONSTRAINT queue_rcpts_pkey PRIMARY KEY (queue_id, address);


--
-- Name: schema_version schema_version_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_version
    ADD CONSTRAINT schema_version_pkey PRIMARY KEY (version);


--
-- Name: shared_files shared_files_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.shared_files
    ADD CONSTRAINT shared_files_pkey PRIMARY KEY (name);


--
-- Name: subscriptions subscriptions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT subscriptions_pkey PRIMARY KEY (account_id, name);


--
-- Name: accounts_domain; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX accounts_domain ON public.accounts USING btree (domain);


--
-- Name: acl_grantee; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX acl_grantee ON public.acl USING btree (grantee_id);


--
-- Name: aliases_target; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX aliases_target ON public.aliases USING btree (target);


--
-- Name: blob_text_body; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX blob_text_body ON public.blob_text USING gin (body public.gin_trgm_ops);


--
-- Name: blob_text_headers; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX blob_text_headers ON public.blob_text USING gin (headers public.gin_trgm_ops);


--
-- Name: blobs_released; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX blobs_released ON public.blobs USING btree (released) WHERE (refs = 0);


--
-- Name: changes_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX changes_created ON public.changes USING btree (created);


--
-- Name: expunged_modseq; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX expunged_modseq ON public.expunged USING btree (mailbox_id, modseq);


--
-- Name: junk_reputation_updated; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX junk_reputation_updated ON public.junk_reputation USING btree (account_id, updated);


--
-- Name: login_failures_account; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX login_failures_account ON public.login_failures USING btree (account);


--
-- Name: login_failures_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX login_failures_at ON public.login_failures USING btree (at);


--
-- Name: login_failures_source; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX login_failures_source ON public.login_failures USING btree (source, at);


--
-- Name: messages_blob; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX messages_blob ON public.messages USING btree (blob_id);


--
-- Name: messages_modseq; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX messages_modseq ON public.messages USING btree (mailbox_id, modseq);


--
-- Name: queue_blob; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_blob ON public.queue USING btree (blob_id);


--
-- Name: queue_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_due ON public.queue USING btree (next_attempt, id);


--
-- Name: sent_log_account; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX sent_log_account ON public.sent_log USING btree (account_id, created);


--
-- Name: accounts accounts_domain_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_domain_fkey FOREIGN KEY (domain) REFERENCES public.domains(name);


--
-- Name: acl acl_mailbox_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.acl
    ADD CONSTRAINT acl_mailbox_id_fkey FOREIGN KEY (mailbox_id) REFERENCES public.mailboxes(id);


--
-- Name: blob_chunks blob_chunks_blob_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.blob_chunks
    ADD CONSTRAINT blob_chunks_blob_id_fkey FOREIGN KEY (blob_id) REFERENCES public.blobs(id) ON DELETE CASCADE;


--
-- Name: blob_text blob_text_blob_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.blob_text
    ADD CONSTRAINT blob_text_blob_id_fkey FOREIGN KEY (blob_id) REFERENCES public.blobs(id) ON DELETE CASCADE;


--
-- Name: junk_reputation junk_reputation_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.junk_reputation
    ADD CONSTRAINT junk_reputation_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- Name: junk_rules junk_rules_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.junk_rules
    ADD CONSTRAINT junk_rules_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- Name: mailboxes mailboxes_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.mailboxes
    ADD CONSTRAINT mailboxes_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- Name: messages messages_blob_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_blob_id_fkey FOREIGN KEY (blob_id) REFERENCES public.blobs(id);


--
-- Name: messages messages_mailbox_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_mailbox_id_fkey FOREIGN KEY (mailbox_id) REFERENCES public.mailboxes(id);


--
-- Name: metadata metadata_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.metadata
    ADD CONSTRAINT metadata_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- Name: queue queue_blob_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue
    ADD CONSTRAINT queue_blob_id_fkey FOREIGN KEY (blob_id) REFERENCES public.blobs(id);


--
-- Name: queue_rcpts queue_rcpts_queue_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_rcpts
    ADD CONSTRAINT queue_rcpts_queue_id_fkey FOREIGN KEY (queue_id) REFERENCES public.queue(id) ON DELETE CASCADE;


--
-- Name: subscriptions subscriptions_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT subscriptions_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- PostgreSQL database dump complete
--


