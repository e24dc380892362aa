//! Every string the pages show, by key, in each language the pages speak: English and
//! Simplified Chinese. Both tables hold every key (a test checks it); a key missing from both
//! shows as `?`.

/// A language the pages can be shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// The best language for an `Accept-Language` header: the supported language with the
    /// highest weight (`zh`, `zh-CN`, `zh-Hans`... are Chinese; English when none fits).
    pub fn from_accept(header: Option<&str>) -> Self {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.unwrap_or("").split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("zh")
                    if !tag.contains("hant") && !tag.ends_with("-tw") && !tag.ends_with("-hk") =>
                {
                    Some(Lang::Zh)
                }
                Some("en") => Some(Lang::En),
                _ => None,
            };
            if let Some(lang) = lang
                && q > 0.0
                && best.is_none_or(|(b, _)| q > b)
            {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// A language named by a `?lang=` switch or its cookie.
    pub fn from_choice(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "zh" | "zh-cn" | "zh-hans" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The BCP 47 tag for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The text for `key`, if a table has it.
    pub fn get(self, key: &str) -> Option<&'static str> {
        let table = match self {
            Lang::En => EN,
            Lang::Zh => ZH,
        };
        table
            .iter()
            .chain(EN)
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// The text for `key` (`?` when no table has it).
    pub fn t(self, key: &str) -> &'static str {
        self.get(key).unwrap_or("?")
    }
}

const EN: &[(&str, &str)] = &[
    ("site", "bioguard"),
    ("footer.operated_by", "This service is run by"),
    ("footer.contact", "Questions about your data:"),
    (
        "footer.unnamed",
        "The operator of this service has not published its name and contact here; ask the organisation that sent you.",
    ),
    ("purposes.recipients.none", "No one else"),
    ("portal.purpose_id", "Purpose"),
    (
        "portal.held.code",
        "A protected code made from your biometric sample and sealed under a key of your own. No image, recording or raw measurement is kept.",
    ),
    ("end.withdrawn", "withdrawn"),
    ("end.superseded", "replaced by a newer consent"),
    ("by.you", "You, in this page"),
    ("by.client", "An organisation you deal with"),
    ("by.operator", "The operator of this service"),
    ("by.retention", "The retention schedule"),
    ("by.reviewer", "A claims reviewer"),
    ("skip", "Skip to the content"),
    ("nav", "Public information"),
    ("nav.home", "Home"),
    ("nav.purposes", "Purposes and notices"),
    ("nav.retention", "Retention schedule"),
    ("nav.transparency", "Transparency report"),
    ("nav.ledger", "Audit ledger"),
    ("nav.fairness", "Fairness"),
    ("lang.switch", "中文"),
    ("lang.other", "zh-CN"),
    ("home.title", "What this service does with biometrics"),
    (
        "home.lead",
        "This service checks faces, voices or fingerprints for the organisations that use it. It keeps only protected templates (never images or recordings), each only with the person's consent for one declared purpose, and records every use in a public, verifiable ledger.",
    ),
    (
        "home.portal",
        "To see what is held about you, and to withdraw, lock or erase it, ask the organisation you deal with for a link to your privacy portal. Links last a few minutes and open your own data only.",
    ),
    ("purposes.title", "Purposes and their notices"),
    ("purposes.none", "No purpose is declared yet."),
    ("purposes.tenant", "Responsible organisation"),
    (
        "purposes.retired",
        "Retired: no new enrolments since this date. Templates already held are used only until their retention limit, then deleted.",
    ),
    ("purposes.operations", "Uses allowed"),
    ("purposes.retention", "Kept for at most"),
    ("purposes.notice", "Current notice"),
    ("purposes.controller", "Controller"),
    ("purposes.jurisdiction", "Jurisdiction"),
    ("purposes.recipients", "Recipients"),
    ("purposes.withdrawal", "How to withdraw"),
    ("purposes.version", "Version and fingerprint"),
    ("days", "days"),
    ("days.enrolment", "days after enrolment"),
    ("days.use", "days after last use"),
    ("retention.title", "Retention schedule"),
    (
        "retention.lead",
        "Every template past its purpose's limit is deleted with its key at the next sweep, and each deletion is recorded in the audit ledger.",
    ),
    ("retention.purpose", "Purpose"),
    (
        "retention.enrolment",
        "Deleted after enrolment at the latest",
    ),
    ("retention.use", "Deleted after last use"),
    ("retention.unlimited", "no separate limit"),
    ("transparency.title", "Transparency report"),
    (
        "transparency.lead",
        "Counts only, derived from the audit ledger, so anyone can recompute them. No individual's data.",
    ),
    ("transparency.measure", "Measure"),
    ("transparency.count", "Count"),
    ("tr.ledger.size", "Entries in the audit ledger"),
    ("tr.enrolments", "Templates enrolled"),
    ("tr.verifications.total", "Verifications (1:1)"),
    ("tr.verifications.match", "… of which matched"),
    ("tr.verifications.no_match", "… of which did not match"),
    ("tr.identifications", "Searches in a gallery (1:N)"),
    ("tr.consents.granted", "Consents given"),
    ("tr.consents.withdrawn", "Consents withdrawn"),
    ("tr.deletions.erasure_requests", "Erasures people asked for"),
    (
        "tr.deletions.withdrawals",
        "Templates destroyed on withdrawal",
    ),
    (
        "tr.deletions.retention",
        "Templates deleted by the retention schedule",
    ),
    ("tr.deletions.key_revocations", "Protection keys revoked"),
    ("tr.subject_locks", "Locks set by people"),
    ("tr.risk.lockouts", "Lockouts after repeated failures"),
    (
        "tr.risk.clients_suspended",
        "Organisations' clients suspended",
    ),
    ("tr.risk.captures_refused", "Captures refused"),
    ("tr.reason.capture_required", "no signed capture"),
    ("tr.reason.unknown_device", "unknown device"),
    (
        "tr.reason.bad_capture_signature",
        "signature did not verify",
    ),
    ("tr.reason.challenge_unknown", "unknown challenge"),
    ("tr.reason.challenge_expired", "expired challenge"),
    ("tr.reason.challenge_reused", "replayed capture"),
    ("tr.reason.low_liveness", "liveness too low"),
    ("tr.incidents.opened", "Incidents opened"),
    (
        "tr.incidents.notifications.on_time",
        "People notified on time",
    ),
    (
        "tr.incidents.notifications.late",
        "People notified late, or overdue",
    ),
    (
        "tr.incidents.notifications.pending",
        "Notifications not yet due",
    ),
    (
        "tr.access_requests",
        "Reads by organisations of what is held about a person",
    ),
    ("tr.claims.filed", "Compensation claims filed"),
    ("tr.claims.paid", "Claims paid"),
    ("tr.claims.denied", "Claims denied"),
    (
        "tr.claims.median_days_to_decision",
        "Median days to a decision",
    ),
    (
        "transparency.period",
        "Period: every entry of the audit ledger, from its first up to",
    ),
    ("transparency.unavailable", "not recorded"),
    ("ledger.title", "Audit ledger"),
    (
        "ledger.lead",
        "Every change and every use is a leaf of an append-only log. This is its latest signed checkpoint; keep it, and later checkpoints must be consistent with it.",
    ),
    ("ledger.checkpoint", "Latest signed checkpoint"),
    ("ledger.key", "Verifier key"),
    ("ledger.how", "To check the whole log yourself, run:"),
    ("fairness.title", "Fairness of the matchers in use"),
    (
        "fairness.lead",
        "A purpose's match threshold goes live only with a recent fairness evaluation that meets its policy, or by an override of the risk group, which is shown here and recorded in the ledger.",
    ),
    ("fairness.status", "Status"),
    ("fairness.threshold", "Threshold"),
    ("fairness.report", "Report (SHA-256)"),
    ("fairness.policy", "Policy"),
    ("fairness.none", "no fairness report"),
    ("fairness.passed", "passed the fairness gate"),
    ("fairness.override", "activated by risk-group override"),
    ("fairness.terms", "What the measures mean"),
    (
        "fairness.fmr",
        "FMR (false match rate): how often the matcher takes two different people for the same person. The FMR ratio is the highest group's rate divided by the lowest's; 1 means every group is treated alike.",
    ),
    (
        "fairness.fnmr",
        "FNMR (false non-match rate): how often the matcher fails to recognise a person as themselves. The FNMR ratio compares groups the same way.",
    ),
    (
        "fairness.garbe",
        "GARBE (Gini aggregation rate for biometric equitability): one number from 0 to 1 that sums up how unequal the error rates are across groups; 0 is perfectly even.",
    ),
    (
        "fairness.age",
        "Report age: how old the evaluation may be before the threshold must be evaluated again.",
    ),
    ("portal.title", "Your biometric data"),
    (
        "portal.lead",
        "This page shows everything this service holds about you and every use of it. The link stops working at",
    ),
    (
        "portal.locked",
        "Your biometrics are locked: no organisation can use them until you unlock them. Locked since",
    ),
    ("portal.unlocked", "Your biometrics are not locked."),
    ("portal.lock", "Lock every use of my biometrics"),
    ("portal.unlock", "Unlock my biometrics"),
    ("portal.choices", "Your choices"),
    ("portal.report", "Download everything as a file (JSON)"),
    ("portal.erase", "Erase everything held about me…"),
    ("portal.purposes", "Purposes you consented to"),
    ("portal.nothing", "Nothing is held about you."),
    ("portal.consent", "Consent"),
    ("portal.given", "given"),
    ("portal.ended", "ended"),
    ("portal.live", "in force"),
    ("portal.notice", "The notice you agreed to"),
    ("portal.receipt", "Download the signed consent receipt"),
    (
        "portal.withdraw",
        "Withdraw consent and destroy the template for",
    ),
    ("portal.template", "Template"),
    ("portal.enrolled", "Enrolled"),
    ("portal.last_used", "Last used"),
    ("portal.never", "never"),
    ("portal.deleted_by", "Deleted by"),
    ("portal.held", "What is held"),
    (
        "portal.no_template",
        "No template is held for this purpose.",
    ),
    ("portal.history", "Every use and change"),
    ("portal.time", "Time"),
    ("portal.operation", "What happened"),
    ("portal.purpose", "Purpose"),
    ("portal.decision", "Outcome"),
    ("portal.by", "By"),
    ("portal.index", "Ledger entry"),
    ("portal.proof", "Proof"),
    ("op.consent.grant", "Consent given"),
    ("op.consent.withdraw", "Consent withdrawn"),
    ("op.enrol", "Template stored"),
    ("op.verify", "Identity checked (one-to-one)"),
    ("op.identify", "Searched for in a gallery (one-to-many)"),
    ("op.capture.refused", "Capture refused"),
    ("op.portal.link", "Link to this portal issued"),
    (
        "op.retention.delete",
        "Template deleted at the end of its retention period",
    ),
    ("op.subject.erase", "Everything erased"),
    (
        "op.subject.lockout",
        "Locked for a while after repeated failures",
    ),
    (
        "op.subject.read",
        "What is held about you was read by the organisation",
    ),
    ("op.subject.lock", "Biometrics locked"),
    ("op.subject.unlock", "Biometrics unlocked"),
    (
        "op.incident.notify",
        "You are owed a notification about an incident",
    ),
    (
        "op.incident.notified",
        "You were notified about an incident",
    ),
    ("op.claim.file", "Compensation claim filed"),
    ("op.claim.decide", "Compensation claim decided"),
    ("dec.match", "matched"),
    ("dec.no_match", "did not match"),
    ("dec.granted", "given"),
    ("dec.withdrawn", "withdrawn"),
    ("dec.enrolled", "stored"),
    ("dec.erased", "erased"),
    ("dec.refused", "refused"),
    ("dec.issued", "issued"),
    ("dec.changed", "changed"),
    ("dec.destroyed", "destroyed"),
    ("dec.approved", "approved"),
    ("dec.filed", "filed"),
    ("dec.open", "open"),
    ("portal.proved", "proved in the signed log"),
    ("portal.unproved", "not proved"),
    (
        "portal.history.more",
        "These are your 1,000 most recent entries. The service you use can give you the older ones.",
    ),
    (
        "portal.history.caption",
        "Each entry is a leaf of the audit ledger, checked against a freshly signed checkpoint of size",
    ),
    (
        "done.withdrawn",
        "Consent withdrawn. The template and its key were destroyed.",
    ),
    ("done.locked", "Your biometrics are now locked."),
    ("done.unlocked", "Your biometrics are unlocked."),
    (
        "done.erased",
        "Everything held about you was erased. Keep this signed deletion certificate as proof.",
    ),
    ("done.receipt", "Signed receipt"),
    ("done.certificate", "Signed deletion certificate"),
    ("done.back", "Back to your data"),
    ("erase.title", "Erase everything"),
    (
        "erase.warning",
        "This destroys every template, key and consent record held about you, for every purpose, at once. It cannot be undone. The organisations you deal with must then offer you their non-biometric alternative.",
    ),
    ("erase.confirm", "I understand that this cannot be undone"),
    ("erase.button", "Erase everything now"),
    ("erase.cancel", "Cancel"),
    ("error.title", "This did not work"),
    (
        "error.link",
        "This portal link is not valid. It may have expired (links last a few minutes) or been copied incompletely. Ask the organisation you deal with for a new one.",
    ),
    (
        "error.csrf",
        "This form has expired or did not come from this page. Go back, reload the page and try again.",
    ),
    (
        "error.confirm",
        "Tick the box to confirm, then press the button again.",
    ),
    (
        "error.rate",
        "Too many requests in a short time. Wait a few seconds and try again.",
    ),
    (
        "error.lock",
        "This lock was set by the organisation you deal with, not by you, so only they can lift it. Nothing was changed. Ask them, or withdraw or erase from this page.",
    ),
    (
        "error.other",
        "Something went wrong. Nothing was changed. Try again later.",
    ),
    (
        "error.not_found",
        "There is no such page. Choose one from the menu above.",
    ),
];

const ZH: &[(&str, &str)] = &[
    ("site", "bioguard"),
    ("footer.operated_by", "本服务的运营方为"),
    ("footer.contact", "关于您的数据的问题请联系："),
    (
        "footer.unnamed",
        "本服务的运营方尚未在此公布其名称和联系方式；请询问引导您来到这里的机构。",
    ),
    ("purposes.recipients.none", "没有其他接收方"),
    ("portal.purpose_id", "用途"),
    (
        "portal.held.code",
        "由您的生物特征样本生成、并以您专属的密钥加密的受保护代码。不保存任何图像、录音或原始测量数据。",
    ),
    ("end.withdrawn", "已撤回"),
    ("end.superseded", "已被新的同意取代"),
    ("by.you", "您本人（在本页面）"),
    ("by.client", "与您打交道的机构"),
    ("by.operator", "本服务的运营方"),
    ("by.retention", "保存期限规则"),
    ("by.reviewer", "赔偿审核人员"),
    ("skip", "跳到正文"),
    ("nav", "公开信息"),
    ("nav.home", "首页"),
    ("nav.purposes", "用途与告知"),
    ("nav.retention", "保存期限"),
    ("nav.transparency", "透明度报告"),
    ("nav.ledger", "审计账本"),
    ("nav.fairness", "公平性"),
    ("lang.switch", "English"),
    ("lang.other", "en"),
    ("home.title", "本服务如何处理生物特征"),
    (
        "home.lead",
        "本服务为使用它的机构核验人脸、声音或指纹。它只保存经过保护的模板（从不保存照片或录音），每个模板都只用于当事人同意的一个已声明用途，并把每一次使用记录在公开、可核验的账本中。",
    ),
    (
        "home.portal",
        "如需查看本服务保存的关于您的信息，或撤回、锁定、删除这些信息，请向与您打交道的机构索取您的隐私门户链接。链接几分钟内有效，只能打开您本人的数据。",
    ),
    ("purposes.title", "用途及其告知"),
    ("purposes.none", "尚未声明任何用途。"),
    ("purposes.tenant", "负责机构"),
    (
        "purposes.retired",
        "已停用：自此日期起不再接受新的登记。已保存的模板只使用到其保存期限为止，随后删除。",
    ),
    ("purposes.operations", "允许的使用"),
    ("purposes.retention", "最长保存"),
    ("purposes.notice", "现行告知"),
    ("purposes.controller", "控制者"),
    ("purposes.jurisdiction", "适用法域"),
    ("purposes.recipients", "接收方"),
    ("purposes.withdrawal", "如何撤回"),
    ("purposes.version", "版本与指纹"),
    ("days", "天"),
    ("days.enrolment", "天（自登记起）"),
    ("days.use", "天（自最后一次使用起）"),
    ("retention.title", "保存期限"),
    (
        "retention.lead",
        "超过其用途期限的模板会在下一次清理时连同密钥一并删除，每一次删除都记录在审计账本中。",
    ),
    ("retention.purpose", "用途"),
    ("retention.enrolment", "自登记起最迟删除"),
    ("retention.use", "自最后一次使用起删除"),
    ("retention.unlimited", "无单独期限"),
    ("transparency.title", "透明度报告"),
    (
        "transparency.lead",
        "只有计数，均由审计账本得出，任何人都可以重新计算。不含任何个人的数据。",
    ),
    ("transparency.measure", "项目"),
    ("transparency.count", "数量"),
    ("tr.ledger.size", "审计账本中的条目"),
    ("tr.enrolments", "登记的模板"),
    ("tr.verifications.total", "核验（1:1）"),
    ("tr.verifications.match", "…其中匹配"),
    ("tr.verifications.no_match", "…其中不匹配"),
    ("tr.identifications", "在图库中的搜索（1:N）"),
    ("tr.consents.granted", "给出的同意"),
    ("tr.consents.withdrawn", "撤回的同意"),
    ("tr.deletions.erasure_requests", "个人要求的删除"),
    ("tr.deletions.withdrawals", "因撤回同意而销毁的模板"),
    ("tr.deletions.retention", "按保存期限删除的模板"),
    ("tr.deletions.key_revocations", "吊销的保护密钥"),
    ("tr.subject_locks", "个人设置的锁定"),
    ("tr.risk.lockouts", "多次失败后的锁定"),
    ("tr.risk.clients_suspended", "被暂停的机构客户端"),
    ("tr.risk.captures_refused", "被拒绝的采集"),
    ("tr.reason.capture_required", "没有签名的采集"),
    ("tr.reason.unknown_device", "未知设备"),
    ("tr.reason.bad_capture_signature", "签名未通过验证"),
    ("tr.reason.challenge_unknown", "未知的挑战"),
    ("tr.reason.challenge_expired", "过期的挑战"),
    ("tr.reason.challenge_reused", "重放的采集"),
    ("tr.reason.low_liveness", "活体检测分数过低"),
    ("tr.incidents.opened", "开启的事件"),
    ("tr.incidents.notifications.on_time", "按时通知的人"),
    (
        "tr.incidents.notifications.late",
        "延迟通知或逾期未通知的人",
    ),
    ("tr.incidents.notifications.pending", "尚未到期的通知"),
    ("tr.access_requests", "机构对个人信息的读取"),
    ("tr.claims.filed", "提出的赔偿申请"),
    ("tr.claims.paid", "已赔付的申请"),
    ("tr.claims.denied", "被驳回的申请"),
    (
        "tr.claims.median_days_to_decision",
        "作出决定所需天数的中位数",
    ),
    (
        "transparency.period",
        "期间：审计账本自第一条起至以下时间的全部条目：",
    ),
    ("transparency.unavailable", "未记录"),
    ("ledger.title", "审计账本"),
    (
        "ledger.lead",
        "每一次变更和每一次使用都是一个只增不改的日志中的一条记录。下面是它最新的签名检查点；请保存它，之后的检查点都必须与它一致。",
    ),
    ("ledger.checkpoint", "最新签名检查点"),
    ("ledger.key", "验证公钥"),
    ("ledger.how", "如需自行核验整个日志，请运行："),
    ("fairness.title", "所用匹配器的公平性"),
    (
        "fairness.lead",
        "某一用途的匹配阈值只有在近期的公平性评估符合其政策时才会生效，或由风险小组批准例外；例外会在此显示并记录在账本中。",
    ),
    ("fairness.status", "状态"),
    ("fairness.threshold", "阈值"),
    ("fairness.report", "报告（SHA-256）"),
    ("fairness.policy", "政策"),
    ("fairness.none", "没有公平性报告"),
    ("fairness.passed", "已通过公平性检查"),
    ("fairness.override", "经风险小组批准例外后启用"),
    ("fairness.terms", "这些指标的含义"),
    (
        "fairness.fmr",
        "FMR（错误匹配率）：匹配器把两个不同的人当成同一个人的频率。FMR 比值是最高组的比率除以最低组的比率；1 表示各组受到同样的对待。",
    ),
    (
        "fairness.fnmr",
        "FNMR（错误不匹配率）：匹配器未能认出本人的频率。FNMR 比值以同样的方式比较各组。",
    ),
    (
        "fairness.garbe",
        "GARBE（生物特征公平性基尼汇总率）：一个 0 到 1 之间的数，概括各组错误率的不均衡程度；0 表示完全均衡。",
    ),
    (
        "fairness.age",
        "报告时效：评估在多长时间内有效，过期后必须重新评估阈值。",
    ),
    ("portal.title", "您的生物特征数据"),
    (
        "portal.lead",
        "本页显示本服务保存的关于您的全部信息及其每一次使用。此链接失效时间：",
    ),
    (
        "portal.locked",
        "您的生物特征已锁定：在您解锁之前，任何机构都不能使用。锁定时间：",
    ),
    ("portal.unlocked", "您的生物特征未锁定。"),
    ("portal.lock", "锁定对我的生物特征的一切使用"),
    ("portal.unlock", "解锁我的生物特征"),
    ("portal.choices", "您的选择"),
    ("portal.report", "把全部信息下载为文件（JSON）"),
    ("portal.erase", "删除关于我的全部信息…"),
    ("portal.purposes", "您已同意的用途"),
    ("portal.nothing", "本服务没有保存关于您的任何信息。"),
    ("portal.consent", "同意"),
    ("portal.given", "给出时间"),
    ("portal.ended", "结束时间"),
    ("portal.live", "有效"),
    ("portal.notice", "您同意的告知"),
    ("portal.receipt", "下载签名的同意回执"),
    ("portal.withdraw", "撤回同意并销毁以下用途的模板："),
    ("portal.template", "模板"),
    ("portal.enrolled", "登记时间"),
    ("portal.last_used", "最后使用"),
    ("portal.never", "从未"),
    ("portal.deleted_by", "删除期限"),
    ("portal.held", "保存的内容"),
    ("portal.no_template", "此用途没有保存模板。"),
    ("portal.history", "每一次使用和变更"),
    ("portal.time", "时间"),
    ("portal.operation", "发生了什么"),
    ("portal.purpose", "用途"),
    ("portal.decision", "结果"),
    ("portal.by", "操作方"),
    ("portal.index", "账本条目"),
    ("portal.proof", "证明"),
    ("op.consent.grant", "给出同意"),
    ("op.consent.withdraw", "撤回同意"),
    ("op.enrol", "保存模板"),
    ("op.verify", "身份核验（一对一）"),
    ("op.identify", "在图库中搜索（一对多）"),
    ("op.capture.refused", "采集被拒绝"),
    ("op.portal.link", "签发本门户链接"),
    ("op.retention.delete", "保存期限届满，模板被删除"),
    ("op.subject.erase", "全部信息已删除"),
    ("op.subject.lockout", "多次失败后暂时锁定"),
    ("op.subject.read", "机构读取了关于您的信息"),
    ("op.subject.lock", "生物特征已锁定"),
    ("op.subject.unlock", "生物特征已解锁"),
    ("op.incident.notify", "您应收到一份事件通知"),
    ("op.incident.notified", "您已收到事件通知"),
    ("op.claim.file", "提出赔偿申请"),
    ("op.claim.decide", "赔偿申请已作出决定"),
    ("dec.match", "匹配"),
    ("dec.no_match", "不匹配"),
    ("dec.granted", "已给出"),
    ("dec.withdrawn", "已撤回"),
    ("dec.enrolled", "已保存"),
    ("dec.erased", "已删除"),
    ("dec.refused", "被拒绝"),
    ("dec.issued", "已签发"),
    ("dec.changed", "已更改"),
    ("dec.destroyed", "已销毁"),
    ("dec.approved", "已批准"),
    ("dec.filed", "已提出"),
    ("dec.open", "进行中"),
    ("portal.proved", "已在签名日志中证明"),
    ("portal.unproved", "未证明"),
    (
        "portal.history.more",
        "这是您最近的 1,000 条记录。您使用的服务可以向您提供更早的记录。",
    ),
    (
        "portal.history.caption",
        "每条记录都是审计账本中的一条，已对照一个新签名的检查点核验，检查点大小为",
    ),
    ("done.withdrawn", "已撤回同意。模板及其密钥已被销毁。"),
    ("done.locked", "您的生物特征现已锁定。"),
    ("done.unlocked", "您的生物特征已解锁。"),
    (
        "done.erased",
        "关于您的全部信息已被删除。请保存这份签名的删除证明作为凭证。",
    ),
    ("done.receipt", "签名回执"),
    ("done.certificate", "签名的删除证明"),
    ("done.back", "返回您的数据"),
    ("erase.title", "删除全部信息"),
    (
        "erase.warning",
        "这会一次性销毁关于您的所有用途下的全部模板、密钥和同意记录，且无法撤销。之后，与您打交道的机构必须为您提供非生物特征的替代方式。",
    ),
    ("erase.confirm", "我明白此操作无法撤销"),
    ("erase.button", "立即删除全部信息"),
    ("erase.cancel", "取消"),
    ("error.title", "操作未成功"),
    (
        "error.link",
        "此门户链接无效。它可能已过期（链接只在几分钟内有效）或复制不完整。请向与您打交道的机构索取新的链接。",
    ),
    (
        "error.csrf",
        "此表单已过期或并非来自本页面。请返回、刷新页面后重试。",
    ),
    ("error.confirm", "请勾选确认框，然后再按一次按钮。"),
    ("error.rate", "短时间内请求过多。请等几秒钟后重试。"),
    (
        "error.lock",
        "此锁定是由与您打交道的机构而非您本人设置的，因此只有他们可以解除。未做任何更改。请联系他们，或在本页撤回或删除。",
    ),
    ("error.other", "出现了问题，未做任何更改。请稍后再试。"),
    ("error.not_found", "没有这个页面。请从上方菜单选择。"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_non_empty() {
        let mut keys: Vec<&str> = EN.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "duplicate keys");
        assert!(EN.iter().all(|(_, v)| !v.is_empty()));
        assert_eq!(Lang::En.t("no.such.key"), "?");
        let mut zh: Vec<&str> = ZH.iter().map(|(k, _)| *k).collect();
        zh.sort_unstable();
        assert_eq!(zh, keys, "the Chinese table has exactly the English keys");
        assert!(ZH.iter().all(|(_, v)| !v.is_empty()));
    }

    #[test]
    fn the_language_follows_accept_language_weights() {
        assert_eq!(Lang::from_accept(None), Lang::En);
        assert_eq!(Lang::from_accept(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::from_accept(Some("en-GB,zh;q=0.5")), Lang::En);
        assert_eq!(Lang::from_accept(Some("fr, zh-Hans;q=0.7")), Lang::Zh);
        assert_eq!(Lang::from_accept(Some("fr, de;q=0.7")), Lang::En);
        assert_eq!(Lang::from_accept(Some("zh;q=0, en;q=0.1")), Lang::En);
        // Traditional Chinese is not what the Chinese table is written in.
        assert_eq!(Lang::from_accept(Some("zh-TW")), Lang::En);
        assert_eq!(Lang::from_choice("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::from_choice("xx"), None);
    }
}
