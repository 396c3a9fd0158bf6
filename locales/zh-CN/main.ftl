# 接口的中文消息：问题标题（docs/errors.md 中每个代码一条）、问题详情、422 回复中各字段的消息。
# 与 locales/en/main.ftl 的条目一一对应；tests/api/messages.rs 与 src/i18n.rs 检查两份目录
# 都有代码用到的每个条目和每个代码的标题。

## 标题：简短，同一代码每次相同。

title-validation_failed = 字段有误
title-malformed_json = JSON 格式错误
title-unreadable_body = 无法读取请求体
title-idempotency_key_required = 需要幂等键
title-idempotency_key_invalid = 幂等键无效
title-idempotency_key_in_use = 幂等键正在使用
title-idempotency_key_reused = 幂等键被重复使用
title-unauthenticated = 未登录
title-invalid_credentials = 邮箱或密码错误
title-forbidden = 无权操作
title-csrf_rejected = 跨站请求被拒绝
title-account_disabled = 账号已停用
title-organization_inactive = 机构不可用
title-producer_not_verified = 生产商未审核
title-producer_suspended = 生产商已暂停
title-enterprise_not_verified = 企业未审核
title-not_found = 未找到
title-method_not_allowed = 不支持的请求方法
title-request_timeout = 请求超时
title-email_taken = 邮箱已被注册
title-uscc_taken = 统一社会信用代码已被注册
title-owner_immutable = 不能更改负责人
title-invalid_transition = 当前状态不允许此操作
title-insufficient_stock = 库存不足
title-too_many_open_orders = 未付款订单过多
title-order_not_payable = 订单无法支付
title-order_expired = 订单已过期
title-no_certification = 没有认证
title-payload_too_large = 请求体过大
title-unsupported_media_type = 不支持的媒体类型
title-invalid_lines = 订单行有误
title-cart_full = 购物车已满
title-nothing_to_certify = 没有可证明的采购
title-too_many_attempts = 尝试次数过多
title-too_many_orders = 下单过于频繁
title-server_busy = 服务器繁忙
title-internal_error = 内部错误
title-invalid_signature = 签名无效
title-malformed_event = 事件格式错误
title-card_declined = 银行卡被拒
title-producer_refunds_disabled = 生产商不能发起退款
title-order_already_paid = 订单已支付
title-bank_reference_used = 银行流水号已使用
title-bank_transfer_not_started = 未发起对公转账
title-order_not_paid = 订单未支付
title-nothing_to_refund = 没有可退款的金额
title-payment_in_progress = 支付正在进行
title-amount_mismatch = 金额不符
title-refund_exceeds_paid = 退款超过已付金额
title-payment_provider_unavailable = 支付服务不可用
title-http_error = HTTP 错误

## 固定不变的详情。

validation_failed = 请求中有字段不正确
unauthenticated = 请先登录
invalid_credentials = 邮箱或密码错误
not_found = 资源不存在
payload_too_large = 请求体超过允许的大小
unsupported_media_type = 请求体应为 JSON（Content-Type: application/json）
too_many_attempts = 尝试次数过多，请稍后再试
server_busy = 服务器繁忙，请稍后再试
internal_error = 服务器出错了；可凭请求编号在日志中查到原因
csrf_rejected = 拒绝跨站的修改请求；请从本站发送
method_not_allowed = 此资源不支持该请求方法
request_timeout = 请求处理时间过长
http_error = 请求失败（HTTP { $status }）
email_taken = 该邮箱已注册账号
uscc_taken = 该统一社会信用代码已有机构注册
bank_reference_used = 该银行流水号已确认过另一笔付款
malformed_json = 请求体不是有效的 JSON：{ $detail }
unreadable_body = 无法读取请求体：{ $detail }

## 字段消息：请求体或查询参数的结构不对（括号内为解析器的原文）。

field-unknown = 不是可接受的字段
field-missing = 必填
field-invalid-type = 类型不对（{ $detail }）
field-unknown-variant = 不是可选的取值，可选：{ $expected }
field-invalid = 取值不对（{ $detail }）

## 文本、邮箱、密码、电话、统一社会信用代码、行政区划代码。

text-empty = 不能为空
text-too-long = 过长（最多 { $max } 个字符）
text-control-characters = 不能包含控制字符
email-invalid = 应为有效的邮箱地址
password-too-short = 至少 { $min } 个字符
password-too-long = 最多 { $max } 个字符
password-too-common = 过于常见，请换一个
phone-invalid = 应为 7 到 15 位数字的电话号码
uscc-length = 应为 18 个字符
uscc-alphabet = 含有统一社会信用代码不用的字符（不使用 I、O、S、V、Z）
uscc-check-character = 校验码不对
adcode-shape = 应为六位行政区划代码

## 数字与选项。

range = 应在 { $min } 到 { $max } 之间
one-of = 应为以下之一：{ $allowed }
not-negative = 不能为负数
positive-fen = 应为正的金额（单位：分）

## 商品：阶梯价、单位、图片。

ladder-empty = 至少要有一档价格
ladder-too-many-tiers = 最多 { $max } 档价格
ladder-first-tier = 第一档必须从 min_qty 1 开始（即零售价）
ladder-price-not-positive = 第 { $tier } 档：unit_price_fen 必须为正
ladder-price-too-high = 第 { $tier } 档：unit_price_fen 最多为 { $max }
ladder-qty-too-high = 第 { $tier } 档：min_qty 最多为 { $max }
ladder-qty-not-rising = 第 { $tier } 档：min_qty 必须大于上一档
ladder-price-rising = 第 { $tier } 档：unit_price_fen 不能高于上一档
images-too-many = 最多 { $max } 张图片
image-not-url = 第 { $index } 张图片应为 http(s) 网址
length-between = 应为 { $min } 到 { $max } 个字符
not-before = 不能早于 { $other }
not-below = 不能小于 { $other }
no-such-category = 没有这个品类
gansu-county = 应为甘肃某县（区）的行政区划代码
gansu-prefecture = 应为甘肃某市（州）的行政区划代码
board-cursor-needs-unit = 游标用于翻阅某一单位的报价：请同时给出 `unit`
producer_suspended = 该生产商已被暂停
producer_not_verified = 该生产商尚未通过审核
product-transition = 状态为 { $from } 的商品不能变为 { $to }
no_certification = 该商品没有可审核的认证
certification-already = 该认证已经是 { $status } 状态
alert-already-resolved = 该价格预警已处理

## 订单与购物车。

open-orders-limit = { $scope ->
    [enterprise] 本企业（全体成员合计）
   *[other] 本账号
    }已有 { $open_orders } 笔未付款订单，已达上限；请先支付或取消一笔
reserved-units-limit = 本单 { $order_units } 件加上{ $scope ->
    [enterprise] 本企业（全体成员合计）
   *[other] 本账号
    }未付款订单占用的 { $reserved_units } 件，将超过 { $max } 件的上限；请先支付或取消订单，或少订一些
order-rate-limit = { $whose ->
    [address] 此地址
   *[other] 本账号
    }在本时段（{ $window_secs } 秒）内已下单 { $max } 次，已达上限；请 { $retry_after_secs } 秒后再试
order-transition = 状态为 { $from } 的订单不能变为 { $to }
order_expired = 订单的审批保留期已过，正在过期，库存将退回
group-cannot-ship = 状态为 { $status } 的发货单不能发货
group-cannot-receive = 状态为 { $status } 的发货单不能确认收货
order-not-payable-refund = 订单状态为 { $status }；这笔付款须退回
bulk-for-enterprises = 批量订单仅限企业
adcode-unknown = 应为 /api/v1/regions 中的行政区划代码
invoice-enterprise-only = 只有企业订单才有发票信息
lines-or-cart = 请给出 lines，或 from_cart: true（二者选一）
order-no-lines = 订单没有商品行
order-too-many-lines = 最多 { $max } 行；更多请用 /orders/bulk
po-number-enterprise-only = 只有企业订单才有采购单号
order-lines-invalid = 订单中有商品行不正确
order-lines-not-buyable = 订单中有商品行无法购买
order-lines-short = 部分商品行库存不足
csv-too-many-lines = 最多 { $max } 行
csv-no-lines = 文件中没有商品行
csv-rows-short = 文件中部分行库存不足
csv-rows-invalid = 文件中部分行无法按原样下单
cart_full = 购物车最多放 { $max } 种商品；请先下单或移除一些
approvers-only = 只有审批人和负责人可以审批订单
owner-sets-policy = 只有企业负责人可以设置下单规则
no-enterprise = 此账号不属于任何企业
enterprise_not_verified = 企业尚未通过审核，不能下单或管理订单
buyers-only = 只有消费者和企业成员可以购买

## 支付与退款。

date-format = 应为日期，格式 YYYY-MM-DD
date-in-future = 不能是将来的日期
transfer-enterprise-only = 对公转账仅限企业；请用银行卡支付
order-awaiting-approver = 订单正等待审批，审批通过后才能支付
order_already_paid = 订单已支付
order-not-payable-again = 订单状态为 { $status }；请重新下单
order-not-payable-transfer = 订单状态为 { $status }；请将转账退回企业
payment_in_progress = 这笔订单的另一次支付刚刚发起
payment_provider_unavailable = { $why ->
    [busy] 支付服务繁忙
    [conflict] 支付服务仍在处理上一次尝试
    [timeout] 支付服务未及时响应
    [failed] 支付服务出错
   *[other] 无法连接支付服务
    }；订单仍可支付，请重试
card_declined = 银行卡被拒：{ $detail }
bank_transfer_not_started = 这笔订单没有发起对公转账
amount_mismatch = 收到 { $amount } 分，而订单金额为 { $total } 分
bank-reference-admin-only = 只有管理员可以登记转出的款项
order-is = 订单状态为 { $status }
order-no-payment = 订单没有可退的付款
refund_exceeds_paid = 退款不能超过该行已付的金额
group-implied = 已由生产商的发货单确定
group-not-paid = 不是本订单中已支付的发货单
refund-lines-or-full = 请给出 lines（每行含 line_id 和 qty），或 full: true（整单；给出 group_id 则为一个发货单）
nothing_to_refund = 已付款项均已退款
refund-lines-invalid = 退款中有行不正确
card-refunds-by-stripe = 银行卡退款由 Stripe 完成，不由管理员完成
refund-is = 退款状态为 { $status }
bank-reference-used-refund = 该银行流水号已登记过另一笔退款
producer_refunds_disabled = 退款由平台管理员办理
invalid_signature = { $why ->
    [missing] 缺少 Stripe-Signature 头
    [malformed] Stripe-Signature 头格式不对
    [mismatch] 签名与请求体不符
   *[other] 签名时间戳与现在相差超过 300 秒
    }
malformed_event = 无法读取事件：{ $detail }

## 账号、机构、成员、平台人员。

producers-only = 只有生产商可以管理商品
enterprise-members-only = 只有企业成员可以查看本企业的帮扶采购数据
organization_inactive = 机构状态为 { $status }，不能变更成员
owner-manages-members = 只有机构负责人可以管理成员
owner_immutable = 负责人的成员身份不能更改或移除
tianjin-district = 应为天津某区的行政区划代码
organization-transition = 状态为 { $from } 的机构不能变为 { $to }
account_disabled = 此账号已停用
password-unchanged = 不能与当前密码相同
password-wrong = 不正确
staff-only = 只有平台人员可以进行此操作
admins-only = 只有平台管理员可以进行此操作
required-with = 给出 { $other } 时必填
cursor-unknown = 不是本服务发出的游标
idempotency_key_required = 请发送 Idempotency-Key 请求头
idempotency_key_invalid = Idempotency-Key 应为 1 到 255 个可见 ASCII 字符
idempotency_key_reused = 此 Idempotency-Key 已用于另一个不同的请求
idempotency_key_in_use = 使用此 Idempotency-Key 的请求仍在处理中

## 统计、目标、证明、导出。

certificate-issuers-only = 只有企业负责人和审批人可以开具证明
year-to-come = 尚未到来
nothing_to_certify = 本企业 { $year } 年没有可证明的帮扶采购
target-percent = 应大于 0 且不超过 100，最多两位小数
target-below-one-fen = 算出的目标不足一分
target-amount-or-percent = 请给出 amount_fen，或同时给出 percent 和 budget_fen
owner-sets-target = 只有企业负责人可以设置帮扶采购目标
range-too-long = 从 from 起最多 { $max } 天（含首尾）
day-required = 必填：日期，YYYY-MM-DD（北京时间）
group-by-required = 必填：分组的维度
